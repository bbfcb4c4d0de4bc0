//! The MCP tools: their names, descriptions and argument schemas, and how the arguments of
//! one call become the REST request that does it (or, for `quote`, which has no route, the
//! quote asked for). Pure: nothing here touches the network or the store.
//!
//! Every write is a REST route under the hood, so that ownership, quotas, budget, limits and
//! `Idempotency-Key` hold for MCP exactly as they do for the REST clients.

use axum::http::Method;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// What one tool does to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Read,
    /// Takes devices or money (book, change, cancel): counted as a booking change by the
    /// per-client limits, as the REST routes are.
    BookingWrite,
    /// Writes something else (a waitlist entry).
    Write,
}

/// One argument: its name, its JSON Schema, whether it is required.
type ArgSpec = (&'static str, fn() -> Value, bool);

/// One tool of the catalogue.
struct Spec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    /// Argument name, JSON Schema, required.
    args: &'static [ArgSpec],
}

fn model() -> Value {
    json!({"type": "string", "description": "GPU model; loose names like `A100` or `h100` are accepted (see list_gpus)"})
}
fn count() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 64, "description": "number of GPUs"})
}
fn start() -> Value {
    json!({"type": "string", "format": "date-time", "description": "RFC 3339 time with an offset, e.g. 2026-12-08T09:00:00Z"})
}
fn end() -> Value {
    json!({"type": "string", "format": "date-time", "description": "RFC 3339 time with an offset, after start"})
}
fn booking_id() -> Value {
    json!({"type": "string", "description": "the booking's id (from my_bookings or book), or a unique prefix of at least 4 characters"})
}
fn key() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "description": "makes a retried call happen once: a repeat with the same key and the same arguments answers what the first did (the Idempotency-Key header of the REST API)"})
}
fn duration() -> Value {
    json!({"type": "string", "description": "how long, e.g. 90m, 8h, 2d or PT8H"})
}
fn after() -> Value {
    json!({"type": "string", "format": "date-time", "description": "earliest start, RFC 3339 (default now)"})
}
fn before() -> Value {
    json!({"type": "string", "format": "date-time", "description": "latest end, RFC 3339 (default 30 days after `after`)"})
}
fn limit() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 50, "description": "most slots (default 5)"})
}

/// A request for GPUs, with the key that makes its retry happen once.
const KEYED_REQUEST: &[ArgSpec] = &[
    ("model", model, true),
    ("count", count, true),
    ("start", start, true),
    ("end", end, true),
    ("idempotency_key", key, false),
];

const SPECS: &[Spec] = &[
    Spec {
        name: "list_gpus",
        title: "List GPU models",
        description: "The GPU models of the centre: memory, devices in all, devices free now and the price per GPU-hour.",
        effect: Effect::Read,
        args: &[],
    },
    Spec {
        name: "availability",
        title: "Availability of a model",
        description: "How many GPUs of a model are free over a window: `free` is the least number free at any instant, `bookable` what one booking can take.",
        effect: Effect::Read,
        args: &[("model", model, true), ("start", start, true), ("end", end, true)],
    },
    Spec {
        name: "find_slots",
        title: "Find free slots",
        description: "The earliest windows in which `count` GPUs (of one model, or of any) are free for a whole `duration`; equal starts list the cheaper first.",
        effect: Effect::Read,
        args: &[
            ("count", count, true),
            ("duration", duration, true),
            ("model", model, false),
            ("after", after, false),
            ("before", before, false),
            ("limit", limit, false),
        ],
    },
    Spec {
        name: "quote",
        title: "Price of a booking",
        description: "What `count` GPUs of a model cost over a window, and what the booking would leave of the project's budget (null without a budget). Books nothing and does not check that they are free.",
        effect: Effect::Read,
        args: &[("model", model, true), ("count", count, true), ("start", start, true), ("end", end, true)],
    },
    Spec {
        name: "my_bookings",
        title: "My bookings",
        description: "The caller's bookings, newest first, with their devices, price and status.",
        effect: Effect::Read,
        args: &[],
    },
    Spec {
        name: "account",
        title: "My account",
        description: "Who the caller is, the project's budget (committed, spent, remaining) and each quota with its limit and use.",
        effect: Effect::Read,
        args: &[],
    },
    Spec {
        name: "book",
        title: "Book GPUs",
        description: "Books `count` GPUs of a model from start to end for the caller; the server chooses the devices. Costs money: confirm the model, count, times and price with the user first. Pass an idempotency_key so that a retry cannot book twice.",
        effect: Effect::BookingWrite,
        args: KEYED_REQUEST,
    },
    Spec {
        name: "change_booking",
        title: "Change a booking",
        description: "Changes one of the caller's bookings in place (new start, end and/or count; a started booking can change only its end), all or nothing. Confirm the change with the user first.",
        effect: Effect::BookingWrite,
        args: &[
            ("booking_id", booking_id, true),
            ("start", start, false),
            ("end", end, false),
            ("count", count, false),
            ("idempotency_key", key, false),
        ],
    },
    Spec {
        name: "cancel_booking",
        title: "Cancel a booking",
        description: "Cancels one of the caller's bookings (one that has started is ended now and charged for the time used). Confirm with the user first.",
        effect: Effect::BookingWrite,
        args: &[("booking_id", booking_id, true), ("idempotency_key", key, false)],
    },
    Spec {
        name: "join_waitlist",
        title: "Join the waitlist",
        description: "Puts a request that does not fit now on the waitlist: when the GPUs free up, the caller is offered a hold to confirm.",
        effect: Effect::Write,
        args: KEYED_REQUEST,
    },
];

fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

fn tool_of(s: &Spec) -> Tool {
    let properties: serde_json::Map<String, Value> = s
        .args
        .iter()
        .map(|(n, f, _)| (n.to_string(), f()))
        .collect();
    let required: Vec<&str> = s.args.iter().filter(|a| a.2).map(|a| a.0).collect();
    let mut schema = JsonObject::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    let annotations = match s.effect {
        Effect::Read => ToolAnnotations::with_title(s.title).read_only(true),
        // A keyed repeat does nothing more, but a call without a key books again.
        Effect::BookingWrite | Effect::Write => ToolAnnotations::with_title(s.title)
            .read_only(false)
            .destructive(true)
            .idempotent(false),
    }
    .open_world(false);
    Tool::new(s.name, s.description, Arc::new(schema))
        .with_title(s.title)
        .with_annotations(annotations)
}

/// Every tool, made once.
pub fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| SPECS.iter().map(tool_of).collect())
}

/// One tool by name.
pub fn tool(name: &str) -> Option<Tool> {
    tools().iter().find(|t| t.name == name).cloned()
}

/// The REST request a call becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    /// HTTP method.
    pub method: Method,
    /// Path and query string.
    pub uri: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// The `Idempotency-Key` header, if the call gave one.
    pub key: Option<String>,
}

/// What a call asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A REST route does it.
    Rest(RestCall, Effect),
    /// A price quote (no route has it).
    Quote {
        /// Model as given.
        model: String,
        /// Number of GPUs.
        count: Value,
        /// RFC 3339.
        start: String,
        /// RFC 3339.
        end: String,
    },
}

/// Arguments that do not fit the tool's schema (answered as a tool error, so that the
/// model can correct its call).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    /// No tool of that name.
    #[error("there is no tool called `{0}`")]
    UnknownTool(String),
    /// An argument the tool does not take: refused, never dropped.
    #[error("`{tool}` takes no argument `{arg}`; it takes: {takes}")]
    Unknown {
        /// The tool.
        tool: &'static str,
        /// The argument.
        arg: String,
        /// What it takes.
        takes: String,
    },
    /// A required argument is missing or null.
    #[error("`{tool}` needs `{arg}`")]
    Missing {
        /// The tool.
        tool: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// A text argument that is not text.
    #[error("`{arg}` must be a string")]
    NotText {
        /// The argument.
        arg: &'static str,
    },
}

impl ArgError {
    /// The error code the tool result carries.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool(_) => "unknown_tool",
            _ => "invalid_arguments",
        }
    }
}

/// The arguments of one call, checked against its tool's argument list.
struct Args<'a> {
    tool: &'static str,
    map: &'a serde_json::Map<String, Value>,
}

impl Args<'_> {
    fn given(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }
    fn required(&self, name: &'static str) -> Result<&Value, ArgError> {
        self.given(name).ok_or(ArgError::Missing {
            tool: self.tool,
            arg: name,
        })
    }
    fn text(&self, name: &'static str) -> Result<Option<String>, ArgError> {
        match self.given(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ArgError::NotText { arg: name }),
        }
    }
    fn required_text(&self, name: &'static str) -> Result<String, ArgError> {
        self.required(name)?;
        Ok(self.text(name)?.unwrap_or_default())
    }
    /// The given arguments among `names`, as a JSON object (values as given: the route
    /// checks them and says what is wrong).
    fn body(&self, names: &[&str]) -> Value {
        Value::Object(
            names
                .iter()
                .filter_map(|n| self.given(n).map(|v| (n.to_string(), v.clone())))
                .collect(),
        )
    }
    /// The given arguments among `names` as a query string.
    fn query(&self, names: &[&str]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for n in names {
            match self.given(n) {
                Some(Value::String(s)) => q.append_pair(n, s),
                Some(other) => q.append_pair(n, &other.to_string()),
                None => continue,
            };
        }
        q.finish()
    }
}

fn with_query(path: &str, query: String) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// The call that `name` with `arguments` is; every argument must be one the tool takes.
pub fn plan(name: &str, arguments: &serde_json::Map<String, Value>) -> Result<Call, ArgError> {
    let s = spec(name).ok_or_else(|| ArgError::UnknownTool(name.to_string()))?;
    if let Some(arg) = arguments
        .keys()
        .find(|k| !s.args.iter().any(|(n, _, _)| n == k))
    {
        let takes: Vec<&str> = s.args.iter().map(|a| a.0).collect();
        return Err(ArgError::Unknown {
            tool: s.name,
            arg: arg.clone(),
            takes: if takes.is_empty() {
                "nothing".into()
            } else {
                takes.join(", ")
            },
        });
    }
    let a = Args {
        tool: s.name,
        map: arguments,
    };
    for (n, _, required) in s.args {
        if *required {
            a.required(n)?;
        }
    }
    let key = a.text("idempotency_key")?;
    let rest = |method: Method, uri: String, body: Option<Value>| {
        Ok(Call::Rest(
            RestCall {
                method,
                uri,
                body,
                key: key.clone(),
            },
            s.effect,
        ))
    };
    let booking = ["model", "count", "start", "end"];
    match s.name {
        "list_gpus" => rest(Method::GET, "/api/gpus".into(), None),
        "availability" => rest(
            Method::GET,
            with_query("/api/availability", a.query(&["model", "start", "end"])),
            None,
        ),
        "find_slots" => rest(
            Method::GET,
            with_query(
                "/api/slots",
                a.query(&["count", "duration", "model", "after", "before", "limit"]),
            ),
            None,
        ),
        "quote" => Ok(Call::Quote {
            model: a.required_text("model")?,
            count: a.required("count")?.clone(),
            start: a.required_text("start")?,
            end: a.required_text("end")?,
        }),
        "my_bookings" => rest(Method::GET, "/api/bookings".into(), None),
        "account" => rest(Method::GET, "/api/account".into(), None),
        "book" => rest(Method::POST, "/api/bookings".into(), Some(a.body(&booking))),
        "join_waitlist" => rest(Method::POST, "/api/waitlist".into(), Some(a.body(&booking))),
        "change_booking" | "cancel_booking" => {
            let id = a.required_text("booking_id")?;
            let path = format!(
                "/api/bookings/{}",
                percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
            );
            if s.name == "cancel_booking" {
                rest(Method::DELETE, path, None)
            } else {
                rest(
                    Method::PATCH,
                    path,
                    Some(a.body(&["start", "end", "count"])),
                )
            }
        }
        other => unreachable!("tool `{other}` has a spec but no plan"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn every_tool_has_a_plan_and_writes_are_destructive() {
        for t in tools() {
            let a = t.annotations.clone().unwrap();
            let write = matches!(
                t.name.as_ref(),
                "book" | "change_booking" | "cancel_booking" | "join_waitlist"
            );
            assert_eq!(a.read_only_hint, Some(!write), "{}", t.name);
            assert_eq!(a.destructive_hint, write.then_some(true), "{}", t.name);
            // Every tool plans with its required arguments (text ones as text).
            let required = t.input_schema.get("required").cloned().unwrap_or(json!([]));
            let map = required
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    let n = n.as_str().unwrap().to_string();
                    let v = if n == "count" { json!(1) } else { json!("x") };
                    (n, v)
                })
                .collect();
            assert!(plan(&t.name, &map).is_ok(), "{}", t.name);
        }
        assert_eq!(tools().len(), 10);
    }

    #[test]
    fn an_unknown_argument_is_refused_not_dropped() {
        let e = plan(
            "book",
            &args(json!({"model": "A100", "count": 2, "cout": 3, "start": "s", "end": "e"})),
        )
        .unwrap_err();
        assert!(
            matches!(e, ArgError::Unknown { ref arg, .. } if arg == "cout"),
            "{e}"
        );
        let e = plan(
            "book",
            &args(json!({"model": "A100", "start": "s", "end": "e"})),
        )
        .unwrap_err();
        assert_eq!(
            e,
            ArgError::Missing {
                tool: "book",
                arg: "count"
            }
        );
    }

    #[test]
    fn calls_become_the_rest_requests_of_the_contract() {
        let Call::Rest(r, effect) = plan(
            "cancel_booking",
            &args(json!({"booking_id": "ab/c d", "idempotency_key": "k1"})),
        )
        .unwrap() else {
            panic!("a REST call")
        };
        assert_eq!(
            (r.method, r.uri.as_str()),
            (Method::DELETE, "/api/bookings/ab%2Fc%20d")
        );
        assert_eq!(
            (r.key.as_deref(), effect),
            (Some("k1"), Effect::BookingWrite)
        );
        let Call::Rest(r, _) = plan(
            "find_slots",
            &args(json!({"count": 2, "duration": "8h", "after": "2026-12-08T09:00:00+01:00"})),
        )
        .unwrap() else {
            panic!("a REST call")
        };
        assert_eq!(
            r.uri,
            "/api/slots?count=2&duration=8h&after=2026-12-08T09%3A00%3A00%2B01%3A00"
        );
        let Call::Rest(r, _) = plan(
            "change_booking",
            &args(json!({"booking_id": "abcd", "end": "2026-12-08T12:00:00Z", "start": null})),
        )
        .unwrap() else {
            panic!("a REST call")
        };
        assert_eq!(r.body, Some(json!({"end": "2026-12-08T12:00:00Z"})));
    }
}
