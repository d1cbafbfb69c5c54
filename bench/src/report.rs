//! The RESULTS.md table.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub ours: String,
    pub baseline: String,
    /// ours / baseline (so > 1 means ours costs more, for costs).
    pub ratio: String,
    pub command: String,
}

impl Row {
    /// A row whose ratio is ours / baseline, with the given unit and precision.
    pub fn num(figure: &str, ours: f64, baseline: f64, unit: &str, command: &str) -> Row {
        Row {
            figure: figure.to_string(),
            ours: fmt(ours, unit),
            baseline: fmt(baseline, unit),
            ratio: ratio(ours, baseline),
            command: command.to_string(),
        }
    }
}

pub fn ratio(ours: f64, baseline: f64) -> String {
    if baseline > 0.0 && ours.is_finite() {
        format!("{:.2}×", ours / baseline)
    } else {
        "–".to_string()
    }
}

pub fn fmt(v: f64, unit: &str) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 0.1 {
        2
    } else {
        4
    };
    format!("{v:.digits$} {unit}").trim_end().to_string()
}

/// The whole file: a header naming the run, the table, and notes.
pub fn render(title_lines: &[String], rows: &[Row], notes: &[String]) -> String {
    let mut s = String::from("# Benchmark results\n\n");
    for l in title_lines {
        let _ = writeln!(s, "{l}  ");
    }
    s.push_str("\n| figure | ours | baseline | ratio | command |\n|---|---:|---:|---:|---|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | `{}` |",
            r.figure, r.ours, r.baseline, r.ratio, r.command
        );
    }
    if !notes.is_empty() {
        s.push_str("\nNotes:\n\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}
