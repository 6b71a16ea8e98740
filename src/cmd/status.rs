//! `ebgan status --profile P`: progress of a whole table — runs done, running (with the step
//! each has reached: its latest checkpoint or evaluation) and pending, and an ETA. With
//! `--watch S` it keeps reporting until every run is done: on a terminal one bar per running
//! run and one for the table, redrawn in place; in a pipe or a log file one plain line every
//! S seconds. `make table2` runs it beside the runs (which are then quiet), so that parallel
//! runs never draw over each other.

use crate::checkpoint::ResumeState;
use crate::cmd::run::Paths;
use crate::config::{load_profile, resolve, Layout, Model};
use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/profiles.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
    /// Runs at a time (for the ETA), as make's JOBS.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
    /// Keep reporting every this many seconds until every run is done (0: report once).
    #[arg(long, default_value_t = 0)]
    pub watch: u64,
    /// Only these label counts (default: the profile's), as make's LABELS.
    #[arg(long, num_args = 1..)]
    pub labels: Vec<usize>,
    /// Only these seeds (default: the profile's), as make's SEEDS.
    #[arg(long, num_args = 1..)]
    pub seeds: Vec<u64>,
}

/// Where one run of the table is.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// final.csv exists; its wall time in seconds.
    Done(f64),
    /// Steps done of all, and the seconds they took (None before the first checkpoint).
    Started {
        step: u64,
        steps: u64,
        seconds: Option<f64>,
    },
    Pending,
}

/// Every run of a table and its state.
pub struct Snapshot {
    pub runs: Vec<((Model, usize, u64), RunState)>,
}

/// Reads the state of every run of `profile` (cheap: a few small files per run), restricted
/// to `labels` and `seeds` when they are not empty.
pub fn snapshot(
    layout: &Layout,
    profile: &str,
    labels: &[usize],
    seeds: &[u64],
) -> Result<Snapshot> {
    let mut p = load_profile(&layout.configs, profile)?;
    if !labels.is_empty() {
        p.labels = labels.to_vec();
    }
    if !seeds.is_empty() {
        p.seeds = seeds.to_vec();
    }
    let mut runs = Vec::new();
    for &labels in &p.labels {
        for &seed in &p.seeds {
            for model in Model::ALL {
                let dir = layout.run_dir(profile, model, labels, seed);
                let state = if let Ok(text) = std::fs::read_to_string(dir.join("final.csv")) {
                    // Wall time: the 7th column of the one row (0 when unreadable: the table
                    // command validates the file; this is only an estimate).
                    let secs = text
                        .lines()
                        .nth(1)
                        .and_then(|l| l.split(',').nth(6))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0);
                    RunState::Done(secs)
                } else if dir.join("config.toml").exists() {
                    let steps =
                        resolve(&layout.configs, profile, model, labels, seed)?.total_steps();
                    let ck = std::fs::read_to_string(dir.join("checkpoint/state.toml"))
                        .ok()
                        .and_then(|t| toml::from_str::<ResumeState>(&t).ok());
                    let from_curve = std::fs::read_to_string(dir.join("curve.csv"))
                        .ok()
                        .and_then(|t| {
                            let last = t.lines().last()?.to_string();
                            let mut f = last.split(',');
                            let step: u64 = f.next()?.parse().ok()?;
                            let secs: f64 = f.next_back()?.parse().ok()?;
                            Some((step + 1, secs))
                        });
                    let (step, seconds) = match (ck, from_curve) {
                        (Some(c), Some((s, w))) if s > c.step => (s, Some(w)),
                        (Some(c), _) => (c.step, Some(c.wall_seconds)),
                        (None, Some((s, w))) => (s, Some(w)),
                        (None, None) => (0, None),
                    };
                    RunState::Started {
                        step: step.min(steps),
                        steps,
                        seconds,
                    }
                } else {
                    RunState::Pending
                };
                runs.push(((model, labels, seed), state));
            }
        }
    }
    Ok(Snapshot { runs })
}

impl Snapshot {
    pub fn done(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| matches!(r.1, RunState::Done(_)))
            .count()
    }

    /// Seconds of work left: a pending run costs its model's mean finished wall time (else
    /// the rate of its started runs); a started run its remaining fraction of that.
    pub fn seconds_left(&self) -> Option<f64> {
        // Per model: the finished runs' wall times, and the started runs' extrapolated times
        // (used only while none of the model has finished).
        let mut done: BTreeMap<Model, Vec<f64>> = BTreeMap::new();
        let mut projected: BTreeMap<Model, Vec<f64>> = BTreeMap::new();
        for ((m, ..), s) in &self.runs {
            match s {
                RunState::Done(secs) if *secs > 0.0 => done.entry(*m).or_default().push(*secs),
                RunState::Started {
                    step,
                    steps,
                    seconds: Some(w),
                } if *step > 0 => projected
                    .entry(*m)
                    .or_default()
                    .push(w * *steps as f64 / *step as f64),
                _ => {}
            }
        }
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let per_model: BTreeMap<Model, f64> = Model::ALL
            .iter()
            .filter_map(|m| {
                let v = done.get(m).or_else(|| projected.get(m))?;
                Some((*m, mean(v)))
            })
            .collect();
        let mut left = 0.0;
        for ((m, ..), s) in &self.runs {
            let each = *per_model.get(m)?;
            left += match s {
                RunState::Done(_) => 0.0,
                RunState::Started { step, steps, .. } => {
                    each * (1.0 - *step as f64 / *steps as f64)
                }
                RunState::Pending => each,
            };
        }
        Some(left)
    }

    /// One plain line: runs done / total, the running ones with their progress, the ETA.
    pub fn line(&self, profile: &str, jobs: usize) -> String {
        let running: Vec<String> = self
            .runs
            .iter()
            .filter_map(|((m, l, s), st)| match st {
                RunState::Started { step, steps, .. } => Some(format!(
                    "{} {l} labels seed {s} {:.0}%",
                    m.label(),
                    100.0 * *step as f64 / *steps as f64
                )),
                _ => None,
            })
            .collect();
        let eta = match self.seconds_left() {
            Some(s) => format!("ETA {} at {jobs} at a time", human(s / jobs as f64)),
            None => "ETA unknown until a run has progressed".into(),
        };
        format!(
            "table2 {profile}: {} of {} runs done; {} started{}{}; {eta}",
            self.done(),
            self.runs.len(),
            running.len(),
            if running.is_empty() { "" } else { ": " },
            running.join(", ")
        )
    }
}

/// "4 h 05 min", "12 min", "40 s".
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=5999 => format!("{} min", (s + 30) / 60),
        _ => {
            let m = (s + 30) / 60;
            format!("{} h {:02} min", m / 60, m % 60)
        }
    }
}

pub fn main(args: Args) -> Result<()> {
    let layout = args.paths.layout();
    let snap = snapshot(&layout, &args.profile, &args.labels, &args.seeds)?;
    if args.watch == 0 {
        println!("{}", snap.line(&args.profile, args.jobs));
        return Ok(());
    }
    let every = Duration::from_secs(args.watch);
    if !std::io::stderr().is_terminal() {
        loop {
            let snap = snapshot(&layout, &args.profile, &args.labels, &args.seeds)?;
            eprintln!("{}", snap.line(&args.profile, args.jobs));
            if snap.done() == snap.runs.len() {
                return Ok(());
            }
            std::thread::sleep(every);
        }
    }
    // A terminal: one bar per started run and one for the table, redrawn in place.
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let table = multi.add(ProgressBar::new(snap.runs.len() as u64));
    table.set_style(
        ProgressStyle::with_template("table2 {prefix}: {bar:30} {pos}/{len} runs  {msg}")
            .expect("valid template"),
    );
    table.set_prefix(args.profile.clone());
    let style = ProgressStyle::with_template("  {prefix:32} {bar:30} {pos}/{len} steps")
        .expect("valid template");
    let mut bars: BTreeMap<(Model, usize, u64), ProgressBar> = BTreeMap::new();
    loop {
        let snap = snapshot(&layout, &args.profile, &args.labels, &args.seeds)?;
        table.set_position(snap.done() as u64);
        table.set_message(match snap.seconds_left() {
            Some(s) => format!("ETA {}", human(s / args.jobs as f64)),
            None => "ETA unknown".into(),
        });
        for (key, st) in &snap.runs {
            match st {
                RunState::Started { step, steps, .. } => {
                    let bar = bars.entry(*key).or_insert_with(|| {
                        let b = multi.add(ProgressBar::new(*steps));
                        b.set_style(style.clone());
                        b.set_prefix(format!("{} {} labels seed {}", key.0.label(), key.1, key.2));
                        b
                    });
                    bar.set_position(*step);
                }
                _ => {
                    if let Some(b) = bars.remove(key) {
                        b.finish_and_clear();
                        multi.remove(&b);
                    }
                }
            }
        }
        if snap.done() == snap.runs.len() {
            table.finish();
            return Ok(());
        }
        std::thread::sleep(every.min(Duration::from_secs(2)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_from_finished_and_started_runs() {
        let k = |m, s| (m, 100usize, s);
        let snap = Snapshot {
            runs: vec![
                (k(Model::Ln, 1), RunState::Done(100.0)),
                (k(Model::Ln, 2), RunState::Done(300.0)),
                (k(Model::Ln, 3), RunState::Pending),
                (
                    k(Model::Ln, 4),
                    RunState::Started {
                        step: 3,
                        steps: 4,
                        seconds: Some(1.0),
                    },
                ),
                (
                    k(Model::EbganLn, 1),
                    RunState::Started {
                        step: 10,
                        steps: 40,
                        seconds: Some(50.0),
                    },
                ),
                (k(Model::EbganLn, 2), RunState::Pending),
            ],
        };
        // LN: mean 200 s → pending 200 + a quarter left 50. EBGAN-LN: 50 s for 10 of 40
        // steps → 200 s each → three quarters 150 + pending 200. Sum 600.
        assert_eq!(snap.seconds_left(), Some(600.0));
        assert_eq!(snap.done(), 2);
        let line = snap.line("quick", 2);
        assert!(
            line.starts_with("table2 quick: 2 of 6 runs done; 2 started: LN 100 labels seed 4 75%"),
            "{line}"
        );
        assert!(line.ends_with("ETA 5 min at 2 at a time"), "{line}");
        let none = Snapshot {
            runs: vec![(k(Model::Ln, 1), RunState::Pending)],
        };
        assert_eq!(none.seconds_left(), None);
        assert_eq!(human(40.0), "40 s");
        assert_eq!(human(720.0), "12 min");
        assert_eq!(human(4.0 * 3600.0 + 300.0), "4 h 05 min");
        assert_eq!(human(7170.0), "2 h 00 min");
    }
}
