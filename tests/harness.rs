//! Self-tests of the shared harness (tests/common): the fault modes of the test
//! proxy, the module zips, and the bounded process runner. Other test files rely
//! on these behaving exactly as documented.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::group_members;
use common::zip::crc32;
use common::{Fault, ModTree, Running, TestProxy, World, refused_url, show};

/// A parsed HTTP response.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One GET on a fresh connection; reads the body by Content-Length.
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Response> {
    get_with(addr, path, "", timeout)
}

/// [`get`] with extra header lines (each ending in `\r\n`).
fn get_with(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    timeout: Duration,
) -> io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut resp = Response {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = resp.header("Content-Length").unwrap().parse().unwrap();
    while body.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    resp.body = body;
    Ok(resp)
}

const T: Duration = Duration::from_secs(5);

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn healthy_proxy_serves_the_protocol_files() {
    let tree = ModTree::with_versions(2, &["v1.0.0", "v1.1.0"]);
    let proxy = TestProxy::start(&tree);
    let a = proxy.addr();
    let list = get(a, "/example.com/dep1/@v/list", T).unwrap();
    assert_eq!(
        (list.status, list.body.as_slice()),
        (200, &b"v1.0.0\nv1.1.0\n"[..])
    );
    let info = get(a, "/example.com/dep0/@v/v1.1.0.info", T).unwrap();
    assert_eq!(
        String::from_utf8(info.body).unwrap(),
        tree.modules[0].info("v1.1.0")
    );
    let latest = get(a, "/example.com/dep0/@latest", T).unwrap();
    assert!(
        String::from_utf8(latest.body)
            .unwrap()
            .contains("\"v1.1.0\"")
    );
    let zip = get(a, "/example.com/dep0/@v/v1.0.0.zip", T).unwrap();
    assert_eq!(zip.body, tree.modules[0].zip("v1.0.0"));
    assert_eq!(
        zip.header("Content-Type").as_deref(),
        Some("application/zip")
    );
    assert_eq!(get(a, "/example.com/nope/@v/list", T).unwrap().status, 404);
    assert_eq!(
        get(a, "/sumdb/sum.golang.org/supported", T).unwrap().status,
        200
    );
    proxy.set_sumdb_supported(false);
    assert_eq!(
        get(a, "/sumdb/sum.golang.org/supported", T).unwrap().status,
        404
    );

    let log = proxy.requests();
    assert_eq!(log.len(), 7);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/example.com/dep1/@v/list");
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[5].status, Some(200));
    assert_eq!(log[6].status, Some(404));
}

#[test]
fn prefix_is_part_of_the_url() {
    let proxy = TestProxy::builder()
        .tree(&ModTree::new(1))
        .prefix("/mirror/")
        .start();
    assert_eq!(proxy.url(), format!("http://{}/mirror", proxy.addr()));
    let a = proxy.addr();
    assert_eq!(
        get(a, "/mirror/example.com/dep0/@v/list", T)
            .unwrap()
            .status,
        200
    );
    assert_eq!(get(a, "/example.com/dep0/@v/list", T).unwrap().status, 404);
}

#[test]
fn status_faults_switch_at_runtime_and_can_target_suffixes() {
    let proxy = TestProxy::start(&ModTree::new(1));
    let a = proxy.addr();
    for code in [500, 502, 503, 504, 403, 404, 410] {
        proxy.set_fault(Fault::Status(code));
        assert_eq!(get(a, "/example.com/dep0/@v/list", T).unwrap().status, code);
    }
    proxy.set_fault(Fault::Status429 {
        retry_after_secs: 7,
    });
    let r = get(a, "/example.com/dep0/@v/list", T).unwrap();
    assert_eq!(
        (r.status, r.header("Retry-After").as_deref()),
        (429, Some("7"))
    );

    proxy.set_fault_for(".zip", Fault::Status(503));
    assert_eq!(get(a, "/example.com/dep0/@v/list", T).unwrap().status, 200);
    assert_eq!(
        get(a, "/example.com/dep0/@v/v1.0.0.zip", T).unwrap().status,
        503
    );
    proxy.heal();
    assert_eq!(
        get(a, "/example.com/dep0/@v/v1.0.0.zip", T).unwrap().status,
        200
    );
    let last = proxy.requests().pop().unwrap();
    assert_eq!((last.status, last.fault), (Some(200), Fault::Healthy));
}

#[test]
fn every_nth_fails_exactly_every_nth_matching_request() {
    let proxy = TestProxy::faulty(&ModTree::new(1), Fault::EveryNth { n: 3, status: 503 });
    let codes: Vec<u16> = (0..7)
        .map(|_| {
            get(proxy.addr(), "/example.com/dep0/@v/list", T)
                .unwrap()
                .status
        })
        .collect();
    assert_eq!(codes, [200, 200, 503, 200, 200, 503, 200]);
}

#[test]
fn hang_never_answers_and_drop_ends_the_connection() {
    let proxy = TestProxy::builder().fault(Fault::Hang).start();
    let err = get(proxy.addr(), "/x/@v/list", Duration::from_millis(300)).err();
    assert!(err.is_some(), "a hung proxy must not answer");
    let mut held = TcpStream::connect(proxy.addr()).unwrap();
    write!(held, "GET /y/@v/list HTTP/1.1\r\n\r\n").unwrap();
    proxy.wait_for_requests(2, T);
    assert_eq!(proxy.requests()[1].status, None);
    let started = Instant::now();
    drop(proxy);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    held.set_read_timeout(Some(T)).unwrap();
    let mut rest = Vec::new();
    let _ = held.read_to_end(&mut rest); // EOF (or reset) rather than a hang
    assert!(rest.is_empty());
}

#[test]
fn slow_drip_delivers_the_whole_body_slowly() {
    let tree = ModTree::new(1);
    let proxy = TestProxy::start(&tree);
    let delay = Duration::from_millis(30);
    proxy.set_fault_for(
        ".mod",
        Fault::SlowDrip {
            bytes_per_chunk: 10,
            delay,
        },
    );
    let started = Instant::now();
    let r = get(proxy.addr(), "/example.com/dep0/@v/v1.0.0.mod", T).unwrap();
    let chunks = tree.modules[0].go_mod().len().div_ceil(10) as u32;
    assert_eq!(r.body, tree.modules[0].go_mod().as_bytes());
    assert!(
        started.elapsed() >= delay * chunks,
        "too fast: {:?}",
        started.elapsed()
    );
}

#[test]
fn reset_mid_body_cuts_the_body_with_a_reset() {
    let proxy = TestProxy::faulty(&ModTree::new(1), Fault::ResetMidBody);
    let err = get(proxy.addr(), "/example.com/dep0/@v/v1.0.0.zip", T)
        .err()
        .expect("the body must be cut short");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
        ),
        "unexpected error {err:?}"
    );
}

#[test]
fn truncated_zip_sends_half_a_zip_with_a_matching_length() {
    let tree = ModTree::new(1);
    let proxy = TestProxy::faulty(&tree, Fault::TruncatedZip);
    let full = tree.modules[0].zip("v1.0.0");
    let r = get(proxy.addr(), "/example.com/dep0/@v/v1.0.0.zip", T).unwrap();
    assert_eq!(r.body, &full[..full.len() / 2]);
    let list = get(proxy.addr(), "/example.com/dep0/@v/list", T).unwrap();
    assert_eq!(list.body, b"v1.0.0\n", "other paths are served normally");
}

#[test]
fn ranges_are_honoured_only_when_enabled_and_headers_are_logged() {
    let tree = ModTree::new(1);
    let proxy = TestProxy::start(&tree);
    let full = tree.modules[0].zip("v1.0.0");
    let path = "/example.com/dep0/@v/v1.0.0.zip";
    let range = "Range: bytes=10-\r\nAuthorization: Basic eDp5\r\n";
    let r = get_with(proxy.addr(), path, range, T).unwrap();
    assert_eq!((r.status, &r.body), (200, &full), "ranges off by default");

    proxy.set_ranges(true);
    let r = get_with(proxy.addr(), &format!("{path}?token=t1"), range, T).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[10..]);
    let expected = format!("bytes 10-{}/{}", full.len() - 1, full.len());
    assert_eq!(r.header("Content-Range"), Some(expected));

    let last = proxy.requests().pop().unwrap();
    assert_eq!(last.path, path);
    assert_eq!(last.query.as_deref(), Some("token=t1"));
    assert_eq!(last.range_from, Some(10));
    assert_eq!(last.authorization.as_deref(), Some("Basic eDp5"));
    assert_eq!(last.status, Some(206));
    let plain = get(proxy.addr(), path, T).unwrap();
    assert_eq!((plain.status, &plain.body), (200, &full));
    let last = proxy.requests().pop().unwrap();
    assert_eq!(
        (last.query, last.range_from, last.authorization),
        (None, None, None)
    );
}

#[test]
fn refused_url_refuses_connections() {
    let url = refused_url();
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let err = TcpStream::connect_timeout(&addr, T).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn run_with_timeout_kills_the_whole_group_and_reports() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo started; sleep 30 & sleep 30"]);
    let started = Instant::now();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        common::run_with_timeout(&mut cmd, Duration::from_millis(500))
    }))
    .expect_err("a hung command must fail the test");
    assert!(started.elapsed() < Duration::from_secs(5));
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("timed out") && msg.contains("started"),
        "{msg}"
    );
}

#[test]
fn leftover_processes_are_reported() {
    // Backgrounded, still in the group after sh exits: a leftover.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "sleep 30 >/dev/null 2>&1 &"]);
    let mut running = Running::spawn(&mut cmd);
    running.set_leftover_grace(Duration::from_millis(300));
    let pgid = running.pid();
    let panic = catch_unwind(AssertUnwindSafe(|| running.wait(T * 4)))
        .expect_err("leftovers must fail the test");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("left processes behind"), "{msg}");
    assert!(group_members(pgid).is_empty(), "the leftovers were killed");
}

/// The proxy's zips and metadata are accepted by the real go, over HTTP and
/// from a `file://` directory.
#[test]
fn go_downloads_and_builds_from_the_generated_modules() {
    let tree = ModTree::with_versions(3, &["v1.0.0", "v1.2.0"]);
    let proxy = TestProxy::start(&tree);
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    world.write_tree_main_module(&tree);
    let out = world.run_direct(&["run", "."]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(common::stdout_text(&out), tree.expected_output());
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        3,
        "{:?}",
        proxy.request_paths()
    );

    let mut offline = World::new();
    tree.write_proxy_dir(&offline.path("proxy"));
    let url = format!("file://{}", offline.path("proxy").display());
    offline.set_env("GOPROXY", url);
    offline.write_tree_main_module(&tree);
    let out = offline.run_direct(&["run", "."]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(common::stdout_text(&out), tree.expected_output());
}
