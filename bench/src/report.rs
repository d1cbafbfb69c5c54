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

/// ours ÷ baseline with two significant digits below 0.1 (so a query 400
/// times faster than its baseline reads 0.0025×, not 0.00×).
pub fn ratio(ours: f64, baseline: f64) -> String {
    if !(baseline > 0.0 && ours.is_finite()) {
        return "–".to_string();
    }
    let r = ours / baseline;
    let digits = if r >= 0.1 || r == 0.0 {
        2
    } else {
        // 0.0123 → 3 leading decimals → 4 digits: "0.012".
        (-r.log10()).ceil() as usize + 1
    };
    format!("{r:.digits$}×")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_keeps_two_significant_digits_when_small() {
        assert_eq!(ratio(1.0, 2.0), "0.50×");
        assert_eq!(ratio(9.6, 3838.0), "0.0025×");
        assert_eq!(ratio(0.2, 10.3), "0.019×");
        assert_eq!(ratio(44.7, 6794.0), "0.0066×");
        assert_eq!(ratio(4.08, 0.2), "20.40×");
        assert_eq!(ratio(0.0, 1.0), "0.00×");
        assert_eq!(ratio(1.0, 0.0), "–");
    }
}
