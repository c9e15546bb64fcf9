//! Progress of a long import: a bar with rate and time left when stderr is a terminal, a plain log line
//! every few seconds otherwise.

use app::bulk::import::Phase;
use app::bulk::Progress;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shows an import's progress until dropped.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    pub fn start(progress: Arc<Progress>) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("joinery-progress".into())
            .spawn(move || if std::io::stderr().is_terminal() { bar(&progress, &flag) } else { lines(&progress, &flag) })
            .ok();
        Watch { stop, thread }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rate(done: u64, started: Instant) -> u64 {
    (done as f64 / started.elapsed().as_secs_f64().max(1e-3)) as u64
}

fn bar(progress: &Progress, stop: &AtomicBool) {
    let total = progress.bytes_total.load(Ordering::Relaxed);
    let bar = indicatif::ProgressBar::new(total.max(1));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed:>4} [{wide_bar}] {percent:>3}%  {msg}  {eta} left") {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let done = progress.resources_done.load(Ordering::Relaxed);
        let failed = progress.failed.load(Ordering::Relaxed);
        bar.set_position(progress.bytes_read.load(Ordering::Relaxed));
        let phase = match progress.phase() {
            Phase::Writing => String::new(),
            Phase::CheckingReferences => ", checking references".into(),
            Phase::Done => ", done".into(),
        };
        let failures = if failed > 0 { format!(", {} failed", crate::thousands(failed)) } else { String::new() };
        bar.set_message(format!("{} resources, {}/s{failures}{phase}", crate::thousands(done), crate::thousands(rate(done, started))));
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish_and_clear();
}

fn lines(progress: &Progress, stop: &AtomicBool) {
    let started = Instant::now();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < Duration::from_secs(10) {
            continue;
        }
        last = Instant::now();
        let total = progress.bytes_total.load(Ordering::Relaxed).max(1);
        let read = progress.bytes_read.load(Ordering::Relaxed);
        let done = progress.resources_done.load(Ordering::Relaxed);
        let fraction = read as f64 / total as f64;
        let elapsed = started.elapsed().as_secs_f64();
        let left = if fraction > 0.0 { elapsed / fraction - elapsed } else { 0.0 };
        tracing::info!(
            percent = (fraction * 100.0).round() as u64,
            resources = done,
            per_second = rate(done, started),
            failed = progress.failed.load(Ordering::Relaxed),
            seconds_left = left.round() as u64,
            phase = ?progress.phase(),
            "importing"
        );
    }
}
