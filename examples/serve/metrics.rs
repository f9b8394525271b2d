//! Prometheus text-format metrics: requests by route and status, errors, latency histograms per route and
//! per pipeline stage, requests and inferences in flight, inferences refused because the server was full.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (c, &le) in self.counts.iter_mut().zip(&BUCKETS) {
            if seconds <= le {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, label: &str, value: &str) {
        for (c, le) in self.counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"{le}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", self.count);
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    route_latency: Mutex<BTreeMap<&'static str, Histogram>>,
    stage_latency: Mutex<BTreeMap<&'static str, Histogram>>,
    pub requests_in_flight: AtomicI64,
    pub inferences_in_flight: AtomicI64,
    pub rejected_full: AtomicU64,
    /// Frames of /v1/clo/infer whose detector output was degenerate (`Inference::degenerate`).
    pub degenerate_frames: AtomicU64,
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route, status)).or_default() += 1;
        self.route_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn stage(&self, stage: &'static str, elapsed: Duration) {
        self.stage_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stage)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn render(&self, max_concurrency: usize) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP clo_serve_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE clo_serve_requests_total counter\n");
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(out, "clo_serve_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP clo_serve_request_errors_total Requests answered with a 4xx or 5xx status, by route.\n");
        out.push_str("# TYPE clo_serve_request_errors_total counter\n");
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        for ((route, status), n) in requests.iter() {
            if *status >= 400 {
                *errors.entry(route).or_default() += n;
            }
        }
        for (route, n) in errors {
            let _ = writeln!(out, "clo_serve_request_errors_total{{route=\"{route}\"}} {n}");
        }
        drop(requests);
        out.push_str("# HELP clo_serve_request_duration_seconds Time to answer a request, by route.\n");
        out.push_str("# TYPE clo_serve_request_duration_seconds histogram\n");
        for (route, h) in self.route_latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(&mut out, "clo_serve_request_duration_seconds", "route", route);
        }
        out.push_str(
            "# HELP clo_serve_stage_duration_seconds Pipeline stage times (preprocess, detect, postprocess, \
             estimate, total from /v1/clo/infer; ensemble for a v2 ensemble run).\n",
        );
        out.push_str("# TYPE clo_serve_stage_duration_seconds histogram\n");
        for (stage, h) in self.stage_latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(&mut out, "clo_serve_stage_duration_seconds", "stage", stage);
        }
        let gauges = [
            (
                "clo_serve_requests_in_flight",
                "Requests being answered now.",
                self.requests_in_flight.load(Ordering::Relaxed),
            ),
            (
                "clo_serve_inferences_in_flight",
                "Inferences holding one of the --max-concurrency slots (the queue depth: nothing waits beyond it).",
                self.inferences_in_flight.load(Ordering::Relaxed),
            ),
            ("clo_serve_max_concurrency", "The --max-concurrency limit.", max_concurrency as i64),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP clo_serve_rejected_full_total Inferences answered 503 because every slot was busy.\n\
             # TYPE clo_serve_rejected_full_total counter\nclo_serve_rejected_full_total {}",
            self.rejected_full.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP clo_serve_degenerate_frames_total Frames of /v1/clo/infer whose detector output was degenerate \
             (every row filled, zero-area boxes, saturated scores): a wrong input encoding or a broken model.\n\
             # TYPE clo_serve_degenerate_frames_total counter\nclo_serve_degenerate_frames_total {}",
            self.degenerate_frames.load(Ordering::Relaxed)
        );
        out
    }
}
