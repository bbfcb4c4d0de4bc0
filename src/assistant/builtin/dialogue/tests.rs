//! The state machine as a table: (state, message) → (state', plan), with no store and no
//! server. Facts are fixed: Thursday 2026-11-26 10:00 UTC, the sample inventory, and the
//! caller's bookings given per row.

use super::state::{Act, Draft, Memory, Pending, Proposal, Purpose, Slot, State};
use super::step::{step, Facts, Plan, Say};
use crate::assistant::builtin::nlu::parse;
use crate::assistant::builtin::when::ProblemKind;
use crate::domain::{Booking, BookingId, BookingStatus, Cents, Device, Interval, Inventory, Owner};
use chrono::{DateTime, Utc};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-11-26T10:00:00Z")
}

fn booking(id: &str, model: &str, count: u32, start: &str, end: &str) -> Booking {
    Booking {
        id: BookingId::parse(&format!("{id:0<32}")).unwrap(),
        owner: Owner::user("t"),
        model: model.into(),
        gpus: (0..count)
            .map(|i| Device {
                node: "n".into(),
                index: i,
            })
            .collect(),
        interval: Interval::new(at(start), at(end)).unwrap(),
        price_total: Cents(100),
        status: BookingStatus::Confirmed,
        created_at: now(),
        series: None,
        project: crate::domain::ProjectName::default_project(),
    }
}

fn run(state: &State, message: &str, bookings: &[Booking]) -> (State, Plan) {
    let inv = Inventory::sample();
    let f = Facts {
        now: now(),
        tz: chrono_tz::UTC,
        inventory: &inv,
        bookings,
    };
    let p = parse(message, &inv, now().with_timezone(&chrono_tz::UTC));
    step(state, &p, &f)
}

/// The model, count and times of a proposal (panics on any other plan).
fn proposed(plan: Plan) -> (String, u32, DateTime<Utc>, DateTime<Utc>) {
    match plan {
        Plan::Propose {
            model,
            count,
            start,
            end,
            ..
        } => (model, count, start, end),
        other => panic!("not a proposal: {other:?}"),
    }
}

fn confirming(act: Act) -> State {
    State {
        pending: Pending::Confirming {
            proposal: Proposal {
                id: "p1".into(),
                act,
                price_cents: 3664,
                stated: "Shall I book it?".into(),
            },
        },
        memory: Memory::default(),
    }
}

fn a100_tomorrow(count: u32) -> Act {
    let mut draft = Draft {
        model: Some("A100-80GB".into()),
        count: Some(count),
        ..Draft::default()
    };
    draft.date = chrono::NaiveDate::from_ymd_opt(2026, 11, 27);
    draft.start = chrono::NaiveTime::from_hms_opt(9, 0, 0);
    draft.end = chrono::NaiveTime::from_hms_opt(17, 0, 0);
    Act::Book {
        draft,
        model: "A100-80GB".into(),
        count,
        start: at("2026-11-27T09:00:00Z"),
        end: at("2026-11-27T17:00:00Z"),
        hold: None,
    }
}

#[test]
fn transitions() {
    let idle = State::default();
    let two = [
        booking(
            "a1",
            "A100-80GB",
            2,
            "2026-11-27T09:00:00Z",
            "2026-11-27T17:00:00Z",
        ),
        booking(
            "b2",
            "L40S-48GB",
            1,
            "2026-11-30T10:00:00Z",
            "2026-11-30T14:00:00Z",
        ),
    ];
    let one = &two[..1];

    // A whole request is proposed (the act turns it into a pending proposal).
    assert_eq!(
        proposed(run(&idle, "book 2 a100 tomorrow 9-5", &[]).1),
        (
            "A100-80GB".into(),
            2,
            at("2026-11-27T09:00:00Z"),
            at("2026-11-27T17:00:00Z")
        )
    );
    // Only a yes to a proposal acts; a yes with nothing pending does nothing.
    let pending = confirming(a100_tomorrow(2));
    let (s, plan) = run(&pending, "yes please", &[]);
    assert!(matches!(plan, Plan::Execute(_)) && s.pending == Pending::Idle);
    assert_eq!(run(&idle, "yes", &[]).1, Plan::Say(Say::NothingPending));
    // No, stop, and words that cannot be read all drop the proposal.
    for msg in [
        "no",
        "stop",
        "nah, not now",
        "no thanks, not at the moment",
        "asdfgh",
    ] {
        let (s, plan) = run(&pending, msg, &[]);
        assert_eq!(s.pending, Pending::Idle, "{msg}: {plan:?}");
        assert!(!matches!(plan, Plan::Execute(_)), "{msg}");
    }
    // A correction changes only its slot and proposes again.
    match run(&pending, "make it 3", &[]).1 {
        Plan::Propose { count, start, .. } => {
            assert_eq!(count, 3);
            assert_eq!(start, at("2026-11-27T09:00:00Z"));
        }
        other => panic!("{other:?}"),
    }
    // The price asked while a proposal waits restates it and keeps it.
    let (s, plan) = run(&pending, "how much?", &[]);
    assert!(matches!(plan, Plan::Say(Say::Restate(_))) && s == pending);
    // A yes that adds another request ("ok, and one more for sunday") books neither: the
    // proposal still waits, and the reply says one request at a time.
    for msg in [
        "ok, and one more for sunday same time",
        "yes, and another one on monday",
        "yes please, also 2 h100 on saturday",
    ] {
        let (s, plan) = run(&pending, msg, &[]);
        assert!(
            matches!(plan, Plan::Say(Say::OneAtATime(_))),
            "{msg}: {plan:?}"
        );
        assert_eq!(s, pending, "{msg}");
    }
    // A yes with a budget is checked against the price: over it, nothing is booked.
    let (_, plan) = run(&pending, "yes if it's under $10", &[]);
    assert!(
        matches!(plan, Plan::Say(Say::OverBudget { budget: 1000, .. })),
        "{plan:?}"
    );
    // Within it, the yes is the yes to what was stated.
    let (_, plan) = run(&pending, "yes as long as it's under $100", &[]);
    assert!(matches!(plan, Plan::Execute(_)), "{plan:?}");
    // Slot filling asks one missing slot at a time.
    let filling = State {
        pending: Pending::Filling {
            draft: Draft {
                model: Some("A100-80GB".into()),
                count_open: true,
                ..Draft::default()
            },
            asking: Slot::Count,
        },
        memory: Memory::default(),
    };
    match run(&filling, "2", &[]) {
        (
            State {
                pending: Pending::Filling { asking, draft },
                ..
            },
            _,
        ) => assert_eq!((asking, draft.count), (Slot::Start, Some(2))),
        other => panic!("{other:?}"),
    }
    // Past and impossible dates are named back, never moved.
    for (msg, kind) in [
        ("book an a100 last thursday 9-5", ProblemKind::Past),
        ("book an a100 on june 31 9-5", ProblemKind::Impossible),
        // A length inside a part of the day says how long, not when it starts.
        (
            "l40s tomorrow morning for 2 hours",
            ProblemKind::StartUnsaid,
        ),
        (
            "a100 tomorrow afternoon for a couple of hours",
            ProblemKind::StartUnsaid,
        ),
    ] {
        match run(&idle, msg, &[]).1 {
            Plan::Say(Say::Time(p)) => assert_eq!(p.kind, kind, "{msg}"),
            other => panic!("{msg}: {other:?}"),
        }
    }
    // "cancel it" right after a booking: a proposal to cancel that one.
    let after = State {
        pending: Pending::Idle,
        memory: Memory {
            last_booking: Some(two[1].id.to_string()),
            ..Memory::default()
        },
    };
    assert_eq!(
        run(&after, "cancel it", &two).1,
        Plan::ProposeCancel {
            bookings: vec![two[1].id.to_string()]
        }
    );
    // Several bookings: which one? Then "the second one" picks it.
    let (s, plan) = run(&idle, "cancel my booking", &two);
    assert!(
        matches!(plan, Plan::Say(Say::WhichBooking { .. })),
        "{plan:?}"
    );
    assert!(matches!(
        s.pending,
        Pending::Choosing {
            purpose: Purpose::Cancel,
            ..
        }
    ));
    assert_eq!(
        run(&s, "the second one", &two).1,
        Plan::ProposeCancel {
            bookings: vec![two[1].id.to_string()]
        }
    );
    // While choosing what to cancel, a change said of one of them is that change, never
    // the cancellation of it.
    match run(&s, "push the L40S one to start at 3 instead", &two).1 {
        Plan::ProposeChange { booking, start, .. } => {
            assert_eq!(booking, two[1].id.to_string());
            assert_eq!(chrono::Timelike::hour(&start), 15);
        }
        other => panic!("{other:?}"),
    }
    // A cancellation said as a plan or a maybe is not a request: nothing is proposed.
    for msg in [
        "I might cancel the L40S one later",
        "thinking about cancelling the monday booking",
        "we may have to cancel the L40S booking",
    ] {
        assert_eq!(run(&idle, msg, &two).1, Plan::Say(Say::NotNow), "{msg}");
    }
    // By model and by day.
    for msg in ["cancel the L40S one", "cancel the monday booking"] {
        assert_eq!(
            run(&idle, msg, &two).1,
            Plan::ProposeCancel {
                bookings: vec![two[1].id.to_string()]
            },
            "{msg}"
        );
    }
    // A change in place is proposed with its new times.
    match run(&idle, "extend it by 2 hours", one).1 {
        Plan::ProposeChange { end, count, .. } => {
            assert_eq!((end, count), (at("2026-11-27T19:00:00Z"), 2));
        }
        other => panic!("{other:?}"),
    }
    match run(&idle, "move it to monday", one).1 {
        Plan::ProposeChange { start, end, .. } => {
            assert_eq!(start, at("2026-11-30T09:00:00Z"));
            assert_eq!(end, at("2026-11-30T17:00:00Z"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_state_that_cannot_be_read_starts_idle() {
    let s = State::decode(&serde_json::json!({"pending": {"pending": "nonsense"}}));
    assert_eq!(s, State::default());
}

/// An ambiguous day asks which one, and keeps the times said with it: naming the day then
/// proposes the whole request ("next friday 9-5" on a Thursday, then "december 4").
#[test]
fn an_ambiguous_day_keeps_the_times_said_with_it() {
    for first in [
        "a100 next friday 9-5",
        "a100 9-5 next friday",
        "a100 from 9 to 5 next friday",
        "a100 next friday from 9am to 5pm",
    ] {
        let (s, plan) = run(&State::default(), first, &[]);
        assert!(matches!(plan, Plan::Say(Say::Time(_))), "{first}: {plan:?}");
        match run(&s, "I mean december 4", &[]).1 {
            Plan::Propose { start, end, .. } => assert_eq!(
                (start, end),
                (at("2026-12-04T09:00:00Z"), at("2026-12-04T17:00:00Z")),
                "{first}"
            ),
            other => panic!("{first}: {other:?}"),
        }
    }
}

/// A request for a model we do not have keeps its day and times for the model named next,
/// and asks how many instead of reading a singular as one (its count went with the unknown
/// model); a question about an unknown model leaves nothing pending.
#[test]
fn a_request_for_an_unknown_model_waits_for_one_we_have() {
    let (s, plan) = run(&State::default(), "two MI300 tomorrow 9-12", &[]);
    assert!(matches!(plan, Plan::Say(Say::UnknownModel(_))), "{plan:?}");
    let (s, plan) = run(&s, "fine, A100 then", &[]);
    assert!(
        matches!(
            plan,
            Plan::Say(Say::Ask {
                slot: Slot::Count,
                ..
            })
        ),
        "{plan:?}"
    );
    assert_eq!(
        proposed(run(&s, "2", &[]).1),
        (
            "A100-80GB".into(),
            2,
            at("2026-11-27T09:00:00Z"),
            at("2026-11-27T12:00:00Z")
        )
    );
    let (s, _) = run(&State::default(), "how much is an MI300 per hour?", &[]);
    assert_eq!(s.pending, Pending::Idle);
}

/// Words that cancel or move only in their idiom do not turn a request into a change or a
/// cancellation: "train from scratch", "looking forward to it", "wipe the disks".
#[test]
fn idioms_with_cancel_and_move_words_stay_requests() {
    let mine = [booking(
        "a1",
        "H100-80GB",
        2,
        "2026-11-30T09:00:00Z",
        "2026-11-30T17:00:00Z",
    )];
    for msg in [
        "book 4 h100 tomorrow 9-5, we need to train my model from scratch",
        "I'm looking forward to it: 2 h100 tomorrow 9-5 please",
    ] {
        match run(&State::default(), msg, &mine).1 {
            Plan::Propose { model, count, .. } => {
                assert_eq!(model, "H100-80GB", "{msg}");
                assert!(count >= 2, "{msg}");
            }
            other => panic!("{msg}: {other:?}"),
        }
    }
}

/// Every word that could change a booking is read or named back: a zone is converted when
/// the day and time are said with it; a repetition, a part of a GPU, an unread time word or
/// a zone with no day blocks the proposal and forgets the times, so a later yes books
/// nothing; a budget is checked; a model ruled out is never chosen.
#[test]
fn every_meaningful_word_is_read_before_a_proposal() {
    use crate::assistant::builtin::unread::UnreadKind;
    let idle = State::default();
    // (message, the proposal: model, count, start, end)
    for (msg, model, count, start, end) in [
        (
            "2 a100 tomorrow 3pm-5pm CET",
            "A100-80GB",
            2,
            "2026-11-27T14:00:00Z",
            "2026-11-27T16:00:00Z",
        ),
        (
            "v100 tomorrow 9-5 UTC+2",
            "V100-32GB",
            1,
            "2026-11-27T07:00:00Z",
            "2026-11-27T15:00:00Z",
        ),
        (
            "h100 at 3pm tokyo time tomorrow for 2 hours",
            "H100-80GB",
            1,
            "2026-11-27T06:00:00Z",
            "2026-11-27T08:00:00Z",
        ),
        (
            "a100 next tuesday 10-12 pacific time",
            "A100-80GB",
            1,
            "2026-12-01T18:00:00Z",
            "2026-12-01T20:00:00Z",
        ),
        (
            "l40s all day saturday sydney time",
            "L40S-48GB",
            1,
            "2026-11-27T13:00:00Z",
            "2026-11-28T13:00:00Z",
        ),
        (
            "no 4090s, 2 cheapest gpus tomorrow 9-5",
            "V100-32GB",
            2,
            "2026-11-27T09:00:00Z",
            "2026-11-27T17:00:00Z",
        ),
        (
            "2 a100 tomorrow 9-5, under $40 total",
            "A100-80GB",
            2,
            "2026-11-27T09:00:00Z",
            "2026-11-27T17:00:00Z",
        ),
        (
            "every single v100 tomorrow 9-5",
            "V100-32GB",
            8,
            "2026-11-27T09:00:00Z",
            "2026-11-27T17:00:00Z",
        ),
        (
            "h100 tomorrow week 9-5",
            "H100-80GB",
            1,
            "2026-12-04T09:00:00Z",
            "2026-12-04T17:00:00Z",
        ),
        (
            "l40s tomorrow morning from 10 for 2 hours",
            "L40S-48GB",
            1,
            "2026-11-27T10:00:00Z",
            "2026-11-27T12:00:00Z",
        ),
        (
            "could I get an L40S from 2 to 4 this afternoon?",
            "L40S-48GB",
            1,
            "2026-11-26T14:00:00Z",
            "2026-11-26T16:00:00Z",
        ),
    ] {
        assert_eq!(
            proposed(run(&idle, msg, &[]).1),
            (model.to_string(), count, at(start), at(end)),
            "{msg}"
        );
    }
    // (message, what is named back)
    for (msg, kind) in [
        ("2 h100 at 3pm CET", UnreadKind::Zone),
        (
            "book h100 every monday 9-11 for 3 weeks",
            UnreadKind::Repeat,
        ),
        ("a100 daily 8-10 for three days", UnreadKind::Repeat),
        ("2 l40s each weekday next week 9-5", UnreadKind::Repeat),
        ("1.5 a100 tomorrow 9-5", UnreadKind::Part),
        ("2 a100 tomorrow 9-5, spend 40 bucks", UnreadKind::Money),
        (
            "grab me an a100 for tomorrow 2-4 pm my time (I'm in Denver)",
            UnreadKind::Zone,
        ),
        (
            "we're based in Tokyo: 2 a100 tomorrow 9-11",
            UnreadKind::Zone,
        ),
    ] {
        let (s, plan) = run(&idle, msg, &[]);
        match plan {
            Plan::Say(Say::Unread(u)) => assert!(u.iter().any(|u| u.kind == kind), "{msg}: {u:?}"),
            other => panic!("{msg}: {other:?}"),
        }
        // A bare yes afterwards proposes nothing, let alone books.
        let (_, after) = run(&s, "yes", &[]);
        assert!(
            !matches!(after, Plan::Execute(_) | Plan::Propose { .. }),
            "{msg} then yes: {after:?}"
        );
    }
    // A yes carrying what cannot be read does not book the proposal waiting for it.
    let pending = confirming(a100_tomorrow(2));
    let (_, plan) = run(&pending, "yes, and every friday too", &[]);
    assert!(matches!(plan, Plan::Say(Say::Unread(_))), "{plan:?}");
    // Over the budget said with it: said, not proposed.
    assert_eq!(
        run(&idle, "4 h100 tomorrow 9-5 under $40", &[]).1,
        Plan::Say(Say::OverBudget {
            price: 12448,
            budget: 4000
        })
    );
    // The budget's amount is not a count left over: "an A100" is still one.
    assert_eq!(
        run(
            &idle,
            "an a100 tomorrow 9-5 for no more than 15 dollars",
            &[]
        )
        .1,
        Plan::Say(Say::OverBudget {
            price: 1832,
            budget: 1500
        })
    );
    // A question about the daily rate is not a repetition.
    assert!(matches!(
        run(&idle, "what's the daily rate for one A100?", &[]).1,
        Plan::Answer(_)
    ));
}

/// Changes and cancellations keep every word said of them: the end moved is the end, a
/// smaller size is not a cancellation, a yes that adds an hour is proposed again, a
/// cancellation's part of the day and number of bookings narrow what is proposed, and
/// "yes, cancel it" is the yes to a proposed cancellation.
#[test]
fn changes_and_cancellations_keep_their_qualifiers() {
    let idle = State::default();
    let three = [
        booking(
            "c1",
            "L40S-48GB",
            1,
            "2026-11-30T09:00:00Z",
            "2026-11-30T12:00:00Z",
        ),
        booking(
            "c2",
            "A100-80GB",
            2,
            "2026-11-30T14:00:00Z",
            "2026-11-30T18:00:00Z",
        ),
        booking(
            "c3",
            "H100-80GB",
            1,
            "2026-12-02T08:00:00Z",
            "2026-12-02T11:00:00Z",
        ),
    ];
    let id = |i: usize| three[i].id.to_string();
    match run(&idle, "push the end of my a100 booking out to 8pm", &three).1 {
        Plan::ProposeChange { start, end, .. } => assert_eq!(
            (start, end),
            (at("2026-11-30T14:00:00Z"), at("2026-11-30T20:00:00Z"))
        ),
        other => panic!("{other:?}"),
    }
    assert!(!matches!(
        run(&idle, "drop my a100 booking to one card", &three).1,
        Plan::ProposeCancel { .. }
    ));
    for (msg, ids) in [
        ("cancel both morning ones", vec![id(0), id(2)]),
        ("cancel the two morning bookings", vec![id(0), id(2)]),
        ("cancel the afternoon one", vec![id(1)]),
    ] {
        assert_eq!(
            run(&idle, msg, &three).1,
            Plan::ProposeCancel { bookings: ids },
            "{msg}"
        );
    }
    let cancelling = confirming(Act::Cancel {
        bookings: vec![id(0)],
    });
    assert!(matches!(
        run(&cancelling, "yes, cancel it", &three).1,
        Plan::Execute(_)
    ));
    assert!(!matches!(
        run(&cancelling, "no, don't cancel it", &three).1,
        Plan::Execute(_)
    ));
    let pending = confirming(a100_tomorrow(2));
    assert_eq!(
        proposed(run(&pending, "yes, and add an hour at the end", &[]).1),
        (
            "A100-80GB".into(),
            2,
            at("2026-11-27T09:00:00Z"),
            at("2026-11-27T18:00:00Z")
        )
    );
}

/// Questions about one's own bookings and about what a workload needs are answered, never
/// taken for booking requests (which would ask for a time, then propose).
#[test]
fn questions_about_bookings_and_workloads_are_answered() {
    use super::step::Question;
    let idle = State::default();
    let mine = [booking(
        "d1",
        "L40S-48GB",
        1,
        "2026-11-30T09:00:00Z",
        "2026-11-30T12:00:00Z",
    )];
    for (msg, models, days) in [
        (
            "when does my L40S booking start?",
            vec!["L40S-48GB".to_string()],
            vec![],
        ),
        (
            "do I have anything on Wednesday?",
            vec![],
            vec![chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()],
        ),
        ("how many gpu hours have I booked?", vec![], vec![]),
    ] {
        assert_eq!(
            run(&idle, msg, &mine).1,
            Plan::Answer(Question::MyBookings { models, days }),
            "{msg}"
        );
    }
    for msg in [
        "which gpu for a 70B model?",
        "will a 13B model fit on a 4090?",
        "what do I need for a 34B model",
        "i want to finetune a 7b model with lora",
    ] {
        assert!(
            matches!(
                run(&idle, msg, &[]).1,
                Plan::Answer(Question::Workload { .. })
            ),
            "{msg}"
        );
    }
    // A request that names a GPU and a time is still a request.
    assert!(matches!(
        run(&idle, "book 2 a100 for my 70B model tomorrow 9-5", &[]).1,
        Plan::Propose { .. }
    ));
}
