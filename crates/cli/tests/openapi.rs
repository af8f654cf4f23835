//! The hub's OpenAPI document (`crates/hub/openapi.yaml`) against the running hub:
//! schemathesis (PyPI) loads it from `GET /v1/openapi.yaml` and sends a few generated requests
//! per operation, checking that the hub never fails with a server error and that every status,
//! content type and body it answers is the one the document describes.
//! `bash scripts/test` creates the virtual environment and sets `PORTICO_SCHEMATHESIS`.

mod common;

use std::process::Command;

use common::{Hub, https_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_matches_the_running_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(dir.path(), &[]);
    let (status, ctype, body) = https_get(hub.http, &hub.cert(), "/v1/openapi.yaml").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/yaml");
    let checked_in = include_str!("../../hub/openapi.yaml");
    assert_eq!(body, checked_in, "the hub serves the checked-in document");
    assert!(body.starts_with("openapi: 3.1.0"));

    let Ok(schemathesis) = std::env::var("PORTICO_SCHEMATHESIS") else {
        eprintln!(
            "skipped: PORTICO_SCHEMATHESIS is not set; run `bash scripts/test`, which installs schemathesis \
             (scripts/schemathesis-requirements.txt) and points it at the binary"
        );
        return;
    };
    let base = format!("https://127.0.0.1:{}", hub.http.port());
    let out = Command::new(&schemathesis)
        .args([
            "run",
            &format!("{base}/v1/openapi.yaml"),
            "--url",
            &base,
            "--tls-verify",
            "false",
            "--max-examples",
            "5",
            "--seed",
            "1",
            "--workers",
            "1",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--warnings",
            "off",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {schemathesis}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("{text}");
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
}
