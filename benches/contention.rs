//! Throughput under contention: fusebox, the floors and the other breakers,
//! for a range of thread counts, as a table, a CSV file and an SVG chart.
//!
//! ```text
//! cargo run --release -p fusebox-benches --bin contention -- --threads 1,2,4,8,16 --secs 1
//! cargo run --release -p fusebox-benches --bin contention -- --group all --csv out.csv --svg out.svg
//! cargo run --release -p fusebox-benches --bin contention -- --memory
//! ```
//!
//! Options (all optional):
//!
//! * `--threads LIST`   thread counts (default 1, 2, 4, … cores, 2 × cores)
//! * `--secs S`         seconds per point (default 1; fractions allowed)
//! * `--rounds N`       interleave: cut each point into `N` slices; each
//!   round runs every thread count in turn, and at each count every
//!   contender of every group one slice (default 1: each point in one
//!   piece, one after another)
//! * `--group LIST`     `closed_success` (default), `closed_mixed`,
//!   `open_reject`, `half_open_admission`, `registry_get`, or `all`
//! * `--only LIST`      run only these contenders (by name)
//! * `--csv PATH`       default `target/contention.csv`
//! * `--svg PATH`       default `target/contention.svg`
//! * `--slices PATH`    also write every slice (group, contender, threads,
//!   round, ns/op/thread): the slices of one round ran within seconds of
//!   each other (one slice per contender and thread count), so ratios
//!   between contenders and between thread counts can be paired round by
//!   round
//! * `--memory`         print bytes per breaker and exit
//!
//! Each point runs every thread in a tight loop for `--secs` and counts the
//! operations; `Mops/s` is the aggregate over all threads, `ns/op/thread`
//! the time one thread spends per operation, and `scaling` the aggregate
//! relative to the same contender on one thread (or on the smallest count
//! given). The contenders are shared with `benches/breakers.rs`.
//!
//! With `--rounds N` every contender's figure is the **median** of its `N`
//! slices, and the table adds the fastest and slowest slice. A machine
//! whose speed drifts for seconds at a time (a shared VM) then slows every
//! contender's slices alike instead of whichever point it ran during, so
//! the ratios between contenders of one table hold up from run to run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

#[path = "common/contenders.rs"]
mod contenders;

use contenders::{contenders, default_thread_counts, start_upkeep, Group, Pool};
use fusebox::CircuitBreaker;

struct Args {
    threads: Vec<usize>,
    secs: f64,
    rounds: u32,
    groups: Vec<Group>,
    only: Option<Vec<String>>,
    csv: String,
    svg: String,
    slices: Option<String>,
    memory: bool,
}

const USAGE: &str = "usage: contention [--threads 1,2,4] [--secs 1] [--rounds 1] \
[--group closed_success|closed_mixed|open_reject|half_open_admission|registry_get|all] \
[--only NAME,NAME] [--csv PATH] [--svg PATH] [--slices PATH] [--memory]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        threads: default_thread_counts(),
        secs: 1.0,
        rounds: 1,
        groups: vec![Group::ClosedSuccess],
        only: None,
        csv: "target/contention.csv".into(),
        svg: "target/contention.svg".into(),
        slices: None,
        memory: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => {
                args.threads = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--threads: {e}"))?;
                if args.threads.is_empty() || args.threads.contains(&0) {
                    return Err("--threads: counts must be >= 1".into());
                }
            }
            "--secs" => {
                args.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?;
                if !(args.secs.is_finite() && args.secs > 0.0) {
                    return Err("--secs must be > 0".into());
                }
            }
            "--rounds" => {
                args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?;
                if args.rounds == 0 {
                    return Err("--rounds must be >= 1".into());
                }
            }
            "--group" => {
                let v = value()?;
                args.groups = if v == "all" {
                    Group::ALL.to_vec()
                } else {
                    v.split(',')
                        .map(|s| Group::parse(s.trim()).ok_or_else(|| format!("unknown group {s}")))
                        .collect::<Result<_, _>>()?
                };
            }
            "--only" => args.only = Some(value()?.split(',').map(|s| s.trim().into()).collect()),
            "--csv" => args.csv = value()?,
            "--svg" => args.svg = value()?,
            "--slices" => args.slices = Some(value()?),
            "--memory" => args.memory = true,
            "-h" | "--help" => return Err(USAGE.into()),
            // `cargo bench` passes `--bench` to every target; ignore it.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// One measured point.
struct Point {
    group: Group,
    contender: &'static str,
    threads: usize,
    mops: f64,
    /// The median slice's (the only one's without `--rounds`).
    ns_per_op_thread: f64,
    /// The fastest and slowest slice, ns/op/thread.
    fastest: f64,
    slowest: f64,
    scaling: f64,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.memory {
        print_memory();
        return ExitCode::SUCCESS;
    }
    let _upkeep = start_upkeep();
    let max = args.threads.iter().copied().max().unwrap_or(1);
    let dur = Duration::from_secs_f64(args.secs);
    let mut points: Vec<Point> = Vec::new();
    let mut slice_rows = String::from("group,contender,threads,round,ns_per_op_thread\n");
    let mut failed = false;

    let wanted = |n: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n));
    // What runs together: without `--rounds`, one group at one thread count
    // at a time (group by group); with it, every group at every thread
    // count, round by round, so that ratios across groups and across thread
    // counts (scaling) are interleaved too. Within a round the thread counts
    // take turns, and at each count every contender runs one slice, so the
    // contenders of one count stay next to each other.
    let batches: Vec<(Vec<Group>, Vec<usize>)> = if args.rounds > 1 {
        vec![(args.groups.clone(), args.threads.clone())]
    } else {
        args.groups
            .iter()
            .flat_map(|&g| args.threads.iter().map(move |&t| (vec![g], vec![t])))
            .collect()
    };
    let total: usize = batches
        .iter()
        .map(|(groups, threads)| {
            groups
                .iter()
                .map(|&g| contenders(g, 1).iter().filter(|e| wanted(e.name)).count())
                .sum::<usize>()
                * threads.len()
        })
        .sum::<usize>()
        * args.rounds as usize;
    let mut done = 0;
    let rounds = args.rounds;
    let slice = dur / rounds;
    for (groups, counts) in batches {
        // Every pool's workers are spawned once and wait on a barrier while
        // the other counts run.
        let pools: Vec<Pool> = counts.iter().map(|&t| Pool::new(t)).collect();
        let entries: Vec<(Group, contenders::Entry)> = groups
            .iter()
            .flat_map(|&g| contenders(g, max).into_iter().map(move |e| (g, e)))
            .filter(|(_, e)| wanted(e.name))
            .collect();
        // Nanoseconds per operation per thread, one per slice, by thread
        // count and contender.
        let mut slices: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); entries.len()]; pools.len()];
        for round in 0..rounds {
            for (k, pool) in pools.iter().enumerate() {
                let threads = pool.threads();
                for (i, (group, entry)) in entries.iter().enumerate() {
                    done += 1;
                    let progress = if rounds > 1 {
                        format!(" (round {}/{rounds})", round + 1)
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r\x1b[K[{done}/{total}] {} / {} / {threads} thread(s){progress} ...",
                        group.name(),
                        entry.name
                    );
                    let _ = std::io::stderr().flush();
                    if round == 0 {
                        // A short warm-up before the point's first slice.
                        pool.run_for(&entry.contender, dur.min(Duration::from_millis(100)));
                    }
                    let (ops, wall) = pool.run_for(&entry.contender, slice);
                    let per_thread_ops = ops.max(1) as f64 / threads as f64;
                    slices[k][i].push(wall.as_secs_f64() * 1e9 / per_thread_ops);
                }
            }
        }
        for (pool, slices) in pools.iter().zip(&slices) {
            let threads = pool.threads();
            for ((group, entry), ns) in entries.iter().zip(slices) {
                for (round, ns) in ns.iter().enumerate() {
                    let _ = writeln!(
                        slice_rows,
                        "{},{},{threads},{},{ns:.3}",
                        group.name(),
                        entry.name,
                        round + 1
                    );
                }
            }
        }
        for (group, entry) in &entries {
            if let Err(e) = entry.contender.check() {
                let at: Vec<String> = counts.iter().map(ToString::to_string).collect();
                eprintln!(
                    "\nwarning: {}/{}/{}: {e}",
                    group.name(),
                    entry.name,
                    at.join(",")
                );
                failed = true;
            }
        }
        for (pool, slices) in pools.iter().zip(slices) {
            for ((group, entry), mut ns) in entries.iter().zip(slices) {
                ns.sort_by(f64::total_cmp);
                let median = ns[ns.len() / 2];
                points.push(Point {
                    group: *group,
                    contender: entry.name,
                    threads: pool.threads(),
                    mops: pool.threads() as f64 * 1e3 / median,
                    ns_per_op_thread: median,
                    fastest: ns[0],
                    slowest: ns[ns.len() - 1],
                    scaling: 0.0,
                });
            }
        }
    }
    eprintln!("\r\x1b[Kdone");
    // Group by group, in the order asked for (a stable sort keeps the
    // thread counts and contenders in order within each group).
    points.sort_by_key(|p| args.groups.iter().position(|&g| g == p.group));

    // Scaling against the smallest thread count of the same contender.
    for i in 0..points.len() {
        let base = points
            .iter()
            .filter(|p| p.group == points[i].group && p.contender == points[i].contender)
            .min_by_key(|p| p.threads)
            .map_or(f64::NAN, |p| p.mops);
        points[i].scaling = points[i].mops / base;
    }

    print_table(&points, args.rounds > 1);
    if let Err(e) = write_file(&args.csv, &csv(&points)) {
        eprintln!("cannot write {}: {e}", args.csv);
        failed = true;
    } else {
        eprintln!("wrote {}", args.csv);
    }
    if let Err(e) = write_file(&args.svg, &svg(&points, &args.groups)) {
        eprintln!("cannot write {}: {e}", args.svg);
        failed = true;
    } else {
        eprintln!("wrote {}", args.svg);
    }
    if let Some(path) = &args.slices {
        if let Err(e) = write_file(path, &slice_rows) {
            eprintln!("cannot write {path}: {e}");
            failed = true;
        } else {
            eprintln!("wrote {path}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_file(path: &str, text: &str) -> std::io::Result<()> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    std::fs::write(path, text)
}

fn print_table(points: &[Point], slices: bool) {
    let mut group = None;
    for p in points {
        if group != Some(p.group) {
            group = Some(p.group);
            println!();
            println!("## {}", p.group.name());
            println!();
            if slices {
                println!("| contender | threads | Mops/s | ns/op/thread (median slice) | fastest–slowest slice | scaling |");
                println!("|---|---:|---:|---:|---:|---:|");
            } else {
                println!("| contender | threads | Mops/s | ns/op/thread | scaling |");
                println!("|---|---:|---:|---:|---:|");
            }
        }
        if slices {
            println!(
                "| {} | {} | {:.1} | {:.2} | {:.2}–{:.2} | {:.2}x |",
                p.contender, p.threads, p.mops, p.ns_per_op_thread, p.fastest, p.slowest, p.scaling
            );
        } else {
            println!(
                "| {} | {} | {:.1} | {:.2} | {:.2}x |",
                p.contender, p.threads, p.mops, p.ns_per_op_thread, p.scaling
            );
        }
    }
}

fn csv(points: &[Point]) -> String {
    let mut out = String::from(
        "group,contender,threads,mops,ns_per_op_thread,scaling,fastest_slice_ns,slowest_slice_ns\n",
    );
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3}",
            p.group.name(),
            p.contender,
            p.threads,
            p.mops,
            p.ns_per_op_thread,
            p.scaling,
            p.fastest,
            p.slowest
        );
    }
    out
}

// ---- the chart ------------------------------------------------------------

const COLORS: [&str; 12] = [
    "#d62728", "#ff7f0e", "#7f7f7f", "#bcbd22", "#17becf", "#1f77b4", "#2ca02c", "#9467bd",
    "#8c564b", "#e377c2", "#000000", "#aec7e8",
];
const PANEL_W: f64 = 860.0;
const PANEL_H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Throughput (Mops/s, log scale) against threads (log2 scale), one panel per
/// group, one polyline with markers per contender, legend on the right.
fn svg(points: &[Point], groups: &[Group]) -> String {
    let mut out = String::new();
    let height = PANEL_H * groups.len() as f64;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" height="{height}" viewBox="0 0 {PANEL_W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{PANEL_W}" height="{height}" fill="white"/>"#
    );
    for (gi, &group) in groups.iter().enumerate() {
        let pts: Vec<&Point> = points.iter().filter(|p| p.group == group).collect();
        if pts.is_empty() {
            continue;
        }
        panel(&mut out, group, &pts, PANEL_H * gi as f64);
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, group: Group, pts: &[&Point], y0: f64) {
    let (x_left, x_right) = (LEFT, PANEL_W - RIGHT);
    let (y_top, y_bottom) = (y0 + TOP, y0 + PANEL_H - BOTTOM);
    let tmin = pts.iter().map(|p| p.threads).min().unwrap_or(1) as f64;
    let tmax = pts.iter().map(|p| p.threads).max().unwrap_or(1) as f64;
    let lx = |t: f64| {
        if tmax > tmin {
            x_left + (t.log2() - tmin.log2()) / (tmax.log2() - tmin.log2()) * (x_right - x_left)
        } else {
            (x_left + x_right) / 2.0
        }
    };
    let positive = pts.iter().map(|p| p.mops).filter(|m| *m > 0.0);
    let ymin = positive.clone().fold(f64::INFINITY, f64::min);
    let ymax = positive.fold(0.0, f64::max);
    let (dlo, dhi) = if ymax > 0.0 {
        (
            ymin.log10().floor(),
            ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let ly = |m: f64| {
        let v = m.max(10f64.powf(dlo)).log10();
        y_bottom - (v - dlo) / (dhi - dlo) * (y_bottom - y_top)
    };

    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="15" font-weight="bold">{}: aggregate throughput vs threads</text>"#,
        x_left,
        y0 + 24.0,
        group.name()
    );
    // Axes and grid.
    let _ = writeln!(
        out,
        r##"<path d="M{x_left},{y_top} V{y_bottom} H{x_right}" stroke="#333" fill="none"/>"##
    );
    let mut d = dlo;
    while d <= dhi + 1e-9 {
        let y = ly(10f64.powf(d));
        let _ = writeln!(
            out,
            r##"<line x1="{x_left}" y1="{y:.1}" x2="{x_right}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x_left - 6.0,
            y + 4.0,
            fmt_decade(d)
        );
        d += 1.0;
    }
    let mut threads: Vec<usize> = pts.iter().map(|p| p.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    for &t in &threads {
        let x = lx(t as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{y_top}" x2="{x:.1}" y2="{y_bottom}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{t}</text>"##,
            y_bottom + 16.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">threads</text>"#,
        (x_left + x_right) / 2.0,
        y_bottom + 36.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">Mops/s (log scale)</text>"#,
        (y_top + y_bottom) / 2.0
    );
    // Series.
    let mut names: Vec<&str> = Vec::new();
    for p in pts {
        if !names.contains(&p.contender) {
            names.push(p.contender);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut series: Vec<&&Point> = pts.iter().filter(|p| p.contender == *name).collect();
        series.sort_by_key(|p| p.threads);
        let coords: Vec<String> = series
            .iter()
            .map(|p| format!("{:.1},{:.1}", lx(p.threads as f64), ly(p.mops)))
            .collect();
        let dash = if name.starts_with("floor") {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let width = if name.starts_with("fusebox") { 3 } else { 2 };
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}"{dash}/>"#,
            coords.join(" ")
        );
        for p in &series {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} {} threads: {:.1} Mops/s</title></circle>"#,
                lx(p.threads as f64),
                ly(p.mops),
                esc(name),
                p.threads,
                p.mops
            );
        }
        let ly_legend = y_top + 8.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{ly_legend:.1}" x2="{}" y2="{ly_legend:.1}" stroke="{color}" stroke-width="{width}"{dash}/><circle cx="{}" cy="{ly_legend:.1}" r="3.5" fill="{color}"/><text x="{}" y="{:.1}">{}</text>"#,
            x_right + 16.0,
            x_right + 40.0,
            x_right + 28.0,
            x_right + 46.0,
            ly_legend + 4.0,
            esc(name)
        );
    }
}

fn fmt_decade(d: f64) -> String {
    let v = 10f64.powf(d);
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

// ---- memory ---------------------------------------------------------------

fn print_memory() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let defaults = CircuitBreaker::new("a");
    println!("# Bytes per breaker (CircuitBreaker::memory_bytes, name of 1 byte)");
    println!();
    println!(
        "defaults (stripes = 2 x available_parallelism {cores} rounded up to a power of two, at most 16; 10 buckets): {} bytes",
        defaults.memory_bytes()
    );
    println!(
        "struct alone (size_of::<CircuitBreaker>()): {} bytes",
        std::mem::size_of::<CircuitBreaker>()
    );
    println!();
    let buckets = [1u32, 10, 100, 1000];
    let stripes = [1usize, 2, 4, 8, 16, 64];
    print!("| window_buckets \\ stripes |");
    for s in stripes {
        print!(" {s} |");
    }
    println!();
    print!("|---|");
    for _ in stripes {
        print!("---:|");
    }
    println!();
    for b in buckets {
        print!("| {b} |");
        for s in stripes {
            let cb = CircuitBreaker::builder("a")
                .window_buckets(b)
                .stripes(s)
                .build()
                .expect("valid");
            print!(" {} |", cb.memory_bytes());
        }
        println!();
    }
}
