//! A live dashboard: five simulated services, each behind a breaker in one
//! `Registry`, hammered by worker threads for about 20 seconds.
//!
//! ```text
//! cargo run --release --example dashboard                 # 20 s
//! cargo run --release --example dashboard -- --seconds 60
//! cargo run --release --example dashboard | cat           # plain text, one block a second
//! ```
//!
//! The services fail in different ways:
//!
//! | service   | failure pattern                                    | what the breaker does          |
//! |-----------|----------------------------------------------------|--------------------------------|
//! | healthy   | ~1 % errors                                        | stays closed                   |
//! | flapping  | 3 s at 90 % errors, then 4 s at 2 %, repeating     | opens, probes, closes, again   |
//! | outage    | 100 % errors from 3 s to 9 s, then healthy         | opens, reopens, recovers ~10 s |
//! | slow-burn | errors creep from 3 % to 90 % over 18 s, then fixed | trips on the error rate        |
//! | cache     | 6 % errors, trips on 3 failures in a row           | short, occasional trips        |
//!
//! Three worker threads call every service in turn, each in one of the
//! crate's styles (`call`, `call_with_fallback`, `try_acquire` + `Permit`).
//! The main thread reads `Registry::get_states()` four times a second and
//! draws a table with plain ANSI escape codes; when stdout is not a terminal
//! it prints one plain block a second instead. Each breaker's
//! `on_state_change` listener counts transitions for the final summary.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fusebox::{CallError, CircuitBreaker, Registry, Snapshot, State, StateChange};

const DEFAULT_SECONDS: u64 = 20;
const WORKERS: usize = 3;
const FRAME: Duration = Duration::from_millis(250);
const EVENT_LOG_LINES: usize = 8;

// ANSI escape codes.
const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[1;33m";
const HOME: &str = "\x1b[H";
const CLEAR_SCREEN: &str = "\x1b[2J";
const CLEAR_LINE: &str = "\x1b[K";
const CLEAR_BELOW: &str = "\x1b[J";

/// How a simulated service fails over time.
#[derive(Clone, Copy)]
enum Pattern {
    Healthy,
    Flapping,
    Outage,
    SlowBurn,
    Cache,
}

impl Pattern {
    /// The probability that a request made `t` seconds into the run fails.
    fn failure_probability(self, t: f64) -> f64 {
        match self {
            Pattern::Healthy => 0.01,
            Pattern::Flapping => {
                if (2.0..5.0).contains(&(t % 7.0)) {
                    0.90
                } else {
                    0.02
                }
            }
            Pattern::Outage => {
                if (3.0..9.0).contains(&t) {
                    1.0
                } else {
                    0.01
                }
            }
            Pattern::SlowBurn => {
                let phase = t % 24.0;
                if phase < 18.0 {
                    0.03 + 0.87 * phase / 18.0
                } else {
                    0.01
                }
            }
            Pattern::Cache => 0.06,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Pattern::Healthy => "~1% errors",
            Pattern::Flapping => "3 s at 90% errors / 4 s at 2%, repeating",
            Pattern::Outage => "100% errors from 3 s to 9 s, then healthy",
            Pattern::SlowBurn => "errors creep 3% -> 90% over 18 s, then fixed",
            Pattern::Cache => "6% errors; trips on 3 failures in a row",
        }
    }
}

/// One simulated service: its name, failure pattern and breaker settings.
struct Service {
    name: &'static str,
    pattern: Pattern,
}

const SERVICES: [Service; 5] = [
    Service {
        name: "healthy",
        pattern: Pattern::Healthy,
    },
    Service {
        name: "flapping",
        pattern: Pattern::Flapping,
    },
    Service {
        name: "outage",
        pattern: Pattern::Outage,
    },
    Service {
        name: "slow-burn",
        pattern: Pattern::SlowBurn,
    },
    Service {
        name: "cache",
        pattern: Pattern::Cache,
    },
];

/// Transition counts for one breaker, written by its listener.
#[derive(Default)]
struct Transitions {
    /// Indexed by `from * 3 + to`.
    counts: [AtomicU64; 9],
}

impl Transitions {
    fn index(s: State) -> usize {
        match s {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }

    fn record(&self, from: State, to: State) {
        self.counts[Self::index(from) * 3 + Self::index(to)].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, from: State, to: State) -> u64 {
        self.counts[Self::index(from) * 3 + Self::index(to)].load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Recent transitions, newest last, for the event log under the table.
/// (Only listeners write here, once per transition; the call path stays
/// lock-free.)
type EventLog = Arc<Mutex<VecDeque<String>>>;

/// A tiny xorshift64* PRNG: good enough for a demo, no dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A uniform float in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct RemoteError;

/// One request to a simulated service: a little latency, then an answer.
fn request(pattern: Pattern, t: f64, rng: &mut XorShift) -> Result<u32, RemoteError> {
    if rng.next_f64() < pattern.failure_probability(t) {
        thread::sleep(Duration::from_micros(800)); // failures are slow (timeouts)
        Err(RemoteError)
    } else {
        thread::sleep(Duration::from_micros(200));
        Ok(200)
    }
}

fn usage() -> String {
    format!(
        "usage: dashboard [--seconds N]\n\n  \
         --seconds N   run for N seconds (default {DEFAULT_SECONDS})\n  \
         -h, --help    print this help"
    )
}

/// `Ok(Some(seconds))` to run, `Ok(None)` for `--help`, `Err` for bad input.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<u64>, String> {
    let mut seconds = DEFAULT_SECONDS;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seconds" | "-s" => args.next().ok_or_else(|| format!("{arg} needs a value"))?,
            other => match other.strip_prefix("--seconds=") {
                Some(v) => v.to_string(),
                None => return Err(format!("unknown argument '{other}'")),
            },
        };
        seconds = value
            .parse()
            .map_err(|_| format!("--seconds wants a whole number of seconds, got '{value}'"))?;
        if seconds > 24 * 3600 {
            return Err(format!("--seconds {seconds} is more than a day"));
        }
    }
    Ok(Some(seconds))
}

fn main() -> ExitCode {
    let seconds = match parse_args(std::env::args().skip(1)) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("dashboard: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    match run(Duration::from_secs(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dashboard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(run_for: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let registry = Registry::new();
    let events: EventLog = Arc::new(Mutex::new(VecDeque::new()));
    let mut transitions: BTreeMap<&'static str, Arc<Transitions>> = BTreeMap::new();

    for service in &SERVICES {
        let counts = Arc::new(Transitions::default());
        transitions.insert(service.name, Arc::clone(&counts));
        let log = Arc::clone(&events);
        let mut builder = CircuitBreaker::builder(service.name)
            .error_threshold_percentage(50.0)
            .min_calls_for_error_rate(20)
            .consecutive_failure_threshold(10)
            .open_duration(Duration::from_millis(2500))
            .half_open_max_calls(3)
            .reset_timeout(Duration::from_secs(3))
            .monitoring_window(Duration::from_secs(5))
            .window_buckets(10)
            .on_state_change(move |c: &StateChange<'_>| {
                counts.record(c.from, c.to);
                let line = format!(
                    "{:>6.2}s  {:<10} {:>9} -> {:<9} {}",
                    start.elapsed().as_secs_f64(),
                    c.name,
                    c.from.as_str(),
                    c.to.as_str(),
                    c.reason
                );
                if let Ok(mut log) = log.lock() {
                    log.push_back(line);
                }
            });
        builder = match service.pattern {
            Pattern::Cache => builder
                .consecutive_failure_threshold(3)
                .open_duration(Duration::from_secs(2)),
            // Let the error rate, not a run of bad luck, trip this one.
            Pattern::SlowBurn => builder.consecutive_failure_threshold(50),
            _ => builder,
        };
        registry.create(builder)?;
    }

    let stop = AtomicBool::new(false);
    let tty = std::io::stdout().is_terminal();

    thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (registry, stop) = (&registry, &stop);
            scope.spawn(move || drive(worker, registry, stop, start));
        }
        if tty {
            print!("{CLEAR_SCREEN}");
        }
        let mut printed_events = 0;
        let mut next_plain = Duration::ZERO;
        loop {
            let elapsed = start.elapsed();
            let done = elapsed >= run_for;
            if tty {
                draw_frame(&registry, &events, elapsed, run_for);
            } else if elapsed >= next_plain || done {
                printed_events = print_block(&registry, &events, printed_events, elapsed);
                next_plain += Duration::from_secs(1);
            }
            if done {
                break;
            }
            thread::sleep(FRAME.min(run_for.saturating_sub(elapsed)));
        }
        stop.store(true, Ordering::Relaxed);
    });

    print_summary(&registry, &transitions, start.elapsed(), tty);
    Ok(())
}

/// A worker: calls every service in turn until told to stop. Worker 0 uses
/// `call`, worker 1 `call_with_fallback`, worker 2 `try_acquire` + `Permit`.
fn drive(worker: usize, registry: &Registry, stop: &AtomicBool, start: Instant) {
    let mut rng = XorShift::new(worker as u64 + 1);
    // Look the breakers up once; the registry hands out `Arc`s.
    let breakers: Vec<_> = SERVICES
        .iter()
        .filter_map(|s| registry.get(s.name).map(|cb| (s.pattern, cb)))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for (pattern, cb) in &breakers {
            let t = start.elapsed().as_secs_f64();
            match worker % 3 {
                0 => {
                    let _: Result<u32, CallError<RemoteError>> =
                        cb.call(|| request(*pattern, t, &mut rng));
                }
                1 => {
                    // A rejected request is served from a (pretend) cache.
                    let _: Result<u32, RemoteError> =
                        cb.call_with_fallback(|| request(*pattern, t, &mut rng), |_rejected| 304);
                }
                _ => match cb.try_acquire() {
                    Ok(permit) => match request(*pattern, t, &mut rng) {
                        Ok(_) => permit.success(),
                        Err(_) => permit.failure(),
                    },
                    Err(rejected) => {
                        // A real client would back off for `retry_after`.
                        let _ = rejected.retry_after();
                    }
                },
            }
        }
        thread::sleep(Duration::from_millis(4));
    }
}

fn colored_state(state: State) -> String {
    let (color, label) = match state {
        State::Closed => (GREEN, "CLOSED"),
        State::Open => (RED, "OPEN"),
        State::HalfOpen => (YELLOW, "HALF_OPEN"),
    };
    // Pad before coloring so the escape codes do not upset the alignment.
    format!("{color}{label:<9}{RESET}")
}

fn plain_state(state: State) -> &'static str {
    match state {
        State::Closed => "CLOSED",
        State::Open => "OPEN",
        State::HalfOpen => "HALF_OPEN",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn retry_after(s: &Snapshot) -> String {
    match (s.state, s.open_remaining) {
        (_, Some(d)) => secs(d),
        (State::HalfOpen, None) => {
            format!("probes {}/{}", s.half_open_calls, s.half_open_max_calls)
        }
        _ => "-".to_string(),
    }
}

const HEADER: &str =
    "service    state      err%   window  consec  in state     calls  rejected  retry-after";

fn row(name: &str, s: &Snapshot, state: &str) -> String {
    format!(
        "{name:<10} {state} {:>5.1}% {:>7} {:>7} {:>9} {:>9} {:>9}  {:<11}",
        s.error_rate,
        s.recent_calls,
        s.consecutive_failures,
        secs(s.state_duration),
        s.total_calls,
        s.total_rejected,
        retry_after(s),
    )
}

/// One terminal frame: cursor home, every line cleared to its end.
fn draw_frame(registry: &Registry, events: &EventLog, elapsed: Duration, run_for: Duration) {
    let states = registry.get_states();
    let t = elapsed.as_secs_f64();
    let mut out = String::with_capacity(4096);
    let mut line = |s: &str| {
        out.push_str(s);
        out.push_str(CLEAR_LINE);
        out.push('\n');
    };
    line(&format!(
        "{BOLD}fusebox dashboard{RESET}  {:.1}s / {}s   {} workers   (Ctrl-C to quit)",
        t,
        run_for.as_secs(),
        WORKERS
    ));
    line("");
    line(&format!("{BOLD}{HEADER}  injected{RESET}"));
    for service in &SERVICES {
        if let Some(s) = states.get(service.name) {
            line(&format!(
                "{}  {DIM}{:>7.1}%{RESET}",
                row(service.name, s, &colored_state(s.state)),
                service.pattern.failure_probability(t) * 100.0
            ));
        }
    }
    line("");
    line(&format!(
        "{DIM}err% and window: calls with a verdict in the last 5 s; calls and rejected: since start;{RESET}"
    ));
    line(&format!(
        "{DIM}injected: the failure probability the simulation uses right now.{RESET}"
    ));
    line("");
    line(&format!("{BOLD}recent transitions{RESET}"));
    let recent: Vec<String> = events
        .lock()
        .map(|log| {
            let skip = log.len().saturating_sub(EVENT_LOG_LINES);
            log.iter().skip(skip).cloned().collect()
        })
        .unwrap_or_default();
    for event in &recent {
        line(&format!("  {event}"));
    }
    for _ in recent.len()..EVENT_LOG_LINES {
        line("");
    }
    line("");
    line(&format!("{BOLD}scenarios{RESET}"));
    for service in &SERVICES {
        line(&format!(
            "  {DIM}{:<10} {}{RESET}",
            service.name,
            service.pattern.describe()
        ));
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe or terminal is not worth a panic in a demo.
    let _ = write!(stdout, "{HOME}{out}{CLEAR_BELOW}");
    let _ = stdout.flush();
}

/// One plain block (no escape codes) for a pipe or a file. Returns how many
/// events have been printed so far.
fn print_block(registry: &Registry, events: &EventLog, printed: usize, elapsed: Duration) -> usize {
    let states = registry.get_states();
    let mut out = format!("--- t = {:.1}s\n{HEADER}\n", elapsed.as_secs_f64());
    for service in &SERVICES {
        if let Some(s) = states.get(service.name) {
            let line = row(service.name, s, &format!("{:<9}", plain_state(s.state)));
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let mut printed_now = printed;
    if let Ok(log) = events.lock() {
        for event in log.iter().skip(printed) {
            out.push_str("  transition ");
            out.push_str(event);
            out.push('\n');
        }
        printed_now = log.len();
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
    printed_now
}

fn print_summary(
    registry: &Registry,
    transitions: &BTreeMap<&'static str, Arc<Transitions>>,
    elapsed: Duration,
    tty: bool,
) {
    let (bold, reset) = if tty { (BOLD, RESET) } else { ("", "") };
    let states = registry.get_states();
    let mut out = format!(
        "\n{bold}summary after {:.1}s{reset}\n\
         service    final      calls   failed  rejected  C->O  O->H  H->C  H->O  transitions\n",
        elapsed.as_secs_f64()
    );
    for service in &SERVICES {
        let (Some(s), Some(tr)) = (states.get(service.name), transitions.get(service.name)) else {
            continue;
        };
        let state = if tty {
            colored_state(s.state)
        } else {
            format!("{:<9}", plain_state(s.state))
        };
        out.push_str(&format!(
            "{:<10} {state} {:>7} {:>8} {:>9} {:>5} {:>5} {:>5} {:>5} {:>12}\n",
            service.name,
            s.total_calls,
            s.total_failures,
            s.total_rejected,
            tr.get(State::Closed, State::Open),
            tr.get(State::Open, State::HalfOpen),
            tr.get(State::HalfOpen, State::Closed),
            tr.get(State::HalfOpen, State::Open),
            tr.total(),
        ));
    }
    out.push_str(
        "(C closed, O open, H half-open; counted by each breaker's on_state_change listener)\n",
    );
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{out}");
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<u64>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(args(&[]), Ok(Some(DEFAULT_SECONDS)));
        assert_eq!(args(&["--seconds", "0"]), Ok(Some(0)));
        assert_eq!(args(&["--seconds=7"]), Ok(Some(7)));
        assert_eq!(args(&["--help"]), Ok(None));
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--seconds", "-3"]).is_err());
        assert!(args(&["--seconds", "x"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn prng_stays_in_range() {
        let mut rng = XorShift::new(7);
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
