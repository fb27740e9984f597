//! Test support: a real `qnetd` per test and a raw frame client, from the workspace test kit
//! (`qnet-testkit`) under the names these tests use.

#![allow(dead_code, unused_imports)]

pub use qnet_testkit::GUARD;
pub use qnet_testkit::daemon::{Daemon, MAX_MESSAGE};
pub use qnet_testkit::raw_session::{RawSession as Client, admin_session, errno};

/// `ChannelCreate` with no flags on `c`: the chid (panics on an error).
pub fn channel_create(c: &mut Client) -> i32 {
    use qnet_proto::local::{self, request, response};
    match c.call(request::Call::ChannelCreate(local::ChannelCreate {
        flags: 0,
    })) {
        response::Result::Chid(chid) => chid,
        other => panic!("ChannelCreate: {other:?}"),
    }
}

/// One metric family as Python's `prometheus_client` parses it: its type and its samples
/// (sample name, labels, value).
#[derive(Debug, serde::Deserialize)]
pub struct Family {
    /// `counter`, `gauge`, `info`, … (`unknown`/`untyped`: the parser could not type it).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its samples.
    pub samples: Vec<(String, std::collections::BTreeMap<String, String>, f64)>,
}

/// `text` parsed by Python's `prometheus_client` (the OpenMetrics parser if `openmetrics`,
/// else the Prometheus text-format parser), by family name. Panics if the parser refuses it,
/// and if python3 or the module is missing (saying what to install).
pub fn prometheus_client_parse(
    text: &str,
    openmetrics: bool,
) -> std::collections::BTreeMap<String, Family> {
    use std::io::Write;
    let python = qnet_testkit::tools::python_with("prometheus_client", "prometheus-client");
    let parser = if openmetrics {
        "prometheus_client.openmetrics.parser"
    } else {
        "prometheus_client.parser"
    };
    let script = format!(
        "import sys, json\n\
         from {parser} import text_string_to_metric_families as parse\n\
         out = {{}}\n\
         for f in parse(sys.stdin.read()):\n\
         \x20   assert f.name not in out, 'family twice: ' + f.name\n\
         \x20   out[f.name] = {{'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}}\n\
         print(json.dumps(out))\n"
    );
    let mut child = std::process::Command::new(python)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client ({parser}) refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser output")
}

/// `GET path` on `addr` (HTTP/1.1, the whole answer with its head), with extra `headers`.
pub fn http_get(addr: &str, path: &str, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The body of an HTTP answer.
pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}
