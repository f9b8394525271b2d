//! Load and faults on a real `examples/serve` process on 127.0.0.1 (issue 5, server part), bounded for a
//! 2-core CI machine: concurrent clients with no 5xx and bounded memory, slow and oversized requests that
//! never hold an inference slot, a repository that vanishes while serving, and graceful shutdown.
//! Each test prints what it measured (`cargo test --test serve_load_faults -- --nocapture`).
#![cfg(feature = "serde")]

mod serve_common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serve_common::{Reply, Server, read_reply, request, root};

/// Clients at once, and requests per client. Issue 5 asks for 32 × 1000; CI runs 32 × 30 (960 requests, a
/// third of them inferences) to stay within its time on 2 cores. `CLO_SERVE_LOAD_REQUESTS` raises N.
const CLIENTS: usize = 32;

fn per_client() -> usize {
    std::env::var("CLO_SERVE_LOAD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(30)
}

fn png() -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/images/flat_grey.png")).unwrap()
}

fn infer_png(addr: &str, body: &[u8]) -> Reply {
    request(addr, "POST", "/v1/clo/infer", &[("Content-Type", "image/png")], body)
}

/// Every client runs `n` requests (health, metadata, infer in turn), all clients released by one barrier;
/// returns every status.
fn round(addr: &str, n: usize) -> Vec<u16> {
    let body = Arc::new(png());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, body, barrier) = (addr.to_string(), body.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..n)
                    .map(|i| match (c + i) % 3 {
                        0 => request(&addr, "GET", "/v2/health/ready", &[], b"").status,
                        1 => request(&addr, "GET", "/v2/models/ensemble", &[], b"").status,
                        _ => {
                            let r = infer_png(&addr, &body);
                            if r.status == 200 {
                                assert!(r.json()["oil_pct"].as_f64().is_some_and(f64::is_finite), "{:?}", r.json());
                            }
                            r.status
                        }
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_clients_get_no_5xx_and_memory_stays_bounded() {
    // The limit equals the number of clients: each client has one request in flight at most, so no request
    // can find the server full, and every 5xx would be a fault. (A 33rd concurrent inference would get 503:
    // slow_and_oversized_requests_never_hold_a_slot shows the limit answering.)
    let server = Server::start(
        &["--stage-mode", "native", "--max-concurrency", &CLIENTS.to_string(), "--intra-threads", "1"],
        &[],
    );
    let rss_start = server.rss_kib();
    // Warm-up: one round creates the workers (sessions) that 32 concurrent inferences need.
    let warm = round(&server.addr, 3);
    assert!(warm.iter().all(|&s| s == 200), "warm-up statuses: {warm:?}");
    let rss_warm = server.rss_kib();
    let n = per_client();
    let statuses = round(&server.addr, n);
    let rss_end = server.rss_kib();
    let count = |f: &dyn Fn(u16) -> bool| statuses.iter().filter(|&&s| f(s)).count();
    let (ok, s503, s5xx) = (count(&|s| s == 200), count(&|s| s == 503), count(&|s| s >= 500));
    println!(
        "load: {CLIENTS} clients x {n} requests = {}: 200 {ok}, 503 {s503}, 5xx {s5xx}; RSS KiB: start {rss_start}, \
         after warm-up {rss_warm}, after load {rss_end} (growth {} KiB)",
        statuses.len(),
        rss_end as i64 - rss_warm as i64
    );
    assert_eq!(statuses.len(), CLIENTS * n);
    assert_eq!(s5xx, 0, "5xx responses under load");
    assert_eq!(ok, statuses.len(), "every request answered 200");
    // After warm-up every buffer exists; the load must not keep growing memory (64 MiB is ~20x the
    // allocator noise seen here and far less than a leaked frame per request would add).
    assert!(rss_end < rss_warm + 64 * 1024, "RSS grew from {rss_warm} KiB to {rss_end} KiB");
    let metrics = server.get("/metrics");
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("clo_serve_rejected_full_total 0"), "{text}");
    assert!(text.contains("clo_serve_stage_duration_seconds_count{stage=\"detect\"}"), "{text}");
}

/// Opens a connection and sends the head of a POST whose body never finishes arriving.
fn stalled(addr: &str, path: &str, declared: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {declared}\r\n\r\n").unwrap();
    s.write_all(&png()[..100]).unwrap();
    s.flush().unwrap();
    s
}

#[test]
fn slow_and_oversized_requests_never_hold_a_slot() {
    // One inference slot: if a stalled upload held it, the infer below would get 503.
    let server = Server::start(
        &["--stage-mode", "native", "--max-concurrency", "1", "--timeout-ms", "3000", "--max-body-bytes", "1048576"],
        &[],
    );
    let png = png();
    let mut slow_a = stalled(&server.addr, "/v1/clo/infer", png.len());
    let mut slow_b = stalled(&server.addr, "/v2/models/ensemble/infer", 5000);
    // While both are stalled: health, metadata and a whole inference answer.
    assert_eq!(server.get("/v2/health/live").status, 200);
    assert_eq!(server.get("/v2/models/ensemble").status, 200);
    let r = infer_png(&server.addr, &png);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The stalled uploads time out with a v2 error (408), without ever taking the slot.
    let msg = read_reply(&mut slow_a).v2_error(408);
    assert!(msg.contains("--timeout-ms"), "{msg}");
    read_reply(&mut slow_b).v2_error(408);

    // Oversized, declared: refused before the body is read.
    let r = request(&server.addr, "POST", "/v1/clo/infer", &[("Content-Length", "2097152")], b"");
    assert!(r.v2_error(413).contains("--max-body-bytes"));
    // Oversized, chunked (no length given): refused once 1 MiB has arrived.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /v2/models/ensemble/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..40 {
        if write!(s, "{:x}\r\n", chunk.len())
            .and_then(|_| s.write_all(&chunk))
            .and_then(|_| s.write_all(b"\r\n"))
            .is_err()
        {
            break; // the server answered and closed
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    read_reply(&mut s).v2_error(413);

    // Nothing was refused so far: the stalled uploads never took the slot.
    let text = String::from_utf8(server.get("/metrics").body).unwrap();
    assert!(text.contains("clo_serve_rejected_full_total 0"), "{text}");
    assert!(text.contains("clo_serve_requests_total{route=\"/v1/clo/infer\",status=\"408\"} 1"), "{text}");

    // Saturation: 8 inferences released at once on the one slot. Those that find it busy get 503 with a v2
    // error at once (never a queue); the server answers on.
    let coffee = Arc::new(std::fs::read(root().join("tests/fixtures/images/coffee.png")).unwrap());
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (addr, body, barrier) = (server.addr.clone(), coffee.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                infer_png(&addr, &body)
            })
        })
        .collect();
    let replies: Vec<Reply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let busy = replies.iter().filter(|r| r.status == 503).count();
    for r in replies.iter().filter(|r| r.status != 200) {
        assert!(r.v2_error(503).contains("limit"));
    }
    assert!(replies.iter().any(|r| r.status == 200));
    let text = String::from_utf8(server.get("/metrics").body).unwrap();
    assert!(text.contains(&format!("clo_serve_rejected_full_total {busy}")), "{text}");
    assert_eq!(infer_png(&server.addr, &png).status, 200);
    assert_eq!(server.get("/v2/health/ready").status, 200);
    println!("saturation: 8 simultaneous inferences on --max-concurrency 1: {busy} answered 503, the rest 200");
    println!(
        "slow clients: 2 stalled uploads answered 408 after --timeout-ms 3000 while health and infer answered 200"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn repository_vanishing_while_serving_leaves_the_server_answering() {
    let tmp = std::env::temp_dir().join(format!("clo-serve-vanish-{}", std::process::id()));
    let repo = tmp.join("model_repository");
    let _ = std::fs::remove_dir_all(&tmp);
    copy_dir(&serve_common::repository(), &repo);
    let server = Server::start(
        &["--repository", repo.to_str().unwrap(), "--stage-mode", "native", "--max-concurrency", "2"],
        &[],
    );
    let png = png();
    let before = infer_png(&server.addr, &png);
    assert_eq!(before.status, 200);

    // A model file disappears: the loaded sessions keep serving.
    std::fs::remove_file(repo.join("yolov8/1/model.onnx")).unwrap();
    let r = infer_png(&server.addr, &png);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["oil_pct"], before.json()["oil_pct"]);
    // The whole repository goes away (renamed, then its folders made unreadable).
    let gone = tmp.join("gone");
    std::fs::rename(&repo, &gone).unwrap();
    for sub in ["ensemble", "preprocessing", "yolov8", "postprocessing", "efficientnet_v2"] {
        let _ = std::process::Command::new("chmod").args(["000", gone.join(sub).to_str().unwrap()]).status();
    }
    for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/ensemble", "/v2/models/ensemble/ready"] {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
    // Two at once: the second may need a new worker, whose sessions cannot be opened now. That is an
    // error answer (500 naming the file), never a dead server.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (addr, png) = (server.addr.clone(), png.clone());
                std::thread::spawn(move || infer_png(&addr, &png))
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            if r.status != 200 {
                let msg = r.v2_error(500);
                assert!(msg.contains("model_repository"), "{msg}");
            }
            statuses.push(r.status);
        }
    }
    let r = infer_png(&server.addr, &png);
    assert_eq!(r.status, 200, "the pooled worker still serves");
    assert_eq!(server.get("/v2/health/live").status, 200);
    println!("repository gone while serving: concurrent infer statuses {statuses:?}; health 200; pooled infer 200");
    for sub in ["ensemble", "preprocessing", "yolov8", "postprocessing", "efficientnet_v2"] {
        let _ = std::process::Command::new("chmod").args(["755", gone.join(sub).to_str().unwrap()]).status();
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let mut server = Server::start(&["--stage-mode", "native"], &[]);
    let png = png();
    // A request is in flight (its body half sent) when SIGTERM arrives; it still gets its answer.
    let mut s = stalled(&server.addr, "/v1/clo/infer", png.len());
    std::thread::sleep(Duration::from_millis(200));
    let killed = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&png[100..]).unwrap();
    let r = read_reply(&mut s);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["oil_pct"].as_f64().is_some());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    assert!(TcpStream::connect(&server.addr).is_err(), "still accepting after shutdown");
}
