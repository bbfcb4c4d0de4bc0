//! The official `openai` Python SDK (installed by `.ci/run`) talks to `/v1`: the models
//! list, a completion and a streamed completion, with the built-in backend.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_works_against_v1() {
    let app = spawn_app().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(app.url(""))
        .output()
        .await
        .expect("python3 (see .ci/run)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the SDK script failed (is `openai` installed? .ci/run installs it):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("models, completion, stream and follow-up ok"));
}
