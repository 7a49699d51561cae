//! The one table the bench prints: a row per measurement, vprolab beside its peer.

use std::fmt::Write as _;

/// One measurement: vprolab's value and, where there is one, the peer's.
pub struct Row {
    pub section: &'static str,
    pub measurement: String,
    pub vprolab: String,
    pub peer: String,
    /// vprolab relative to the peer, with what the ratio means.
    pub ratio: String,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    pub fn push(&mut self, section: &'static str, measurement: impl Into<String>, vprolab: impl Into<String>, peer: impl Into<String>, ratio: impl Into<String>) {
        let row = Row { section, measurement: measurement.into(), vprolab: vprolab.into(), peer: peer.into(), ratio: ratio.into() };
        crate::say(&format!("{}: {}: {} | {} | {}", row.section, row.measurement, row.vprolab, row.peer, row.ratio));
        self.rows.push(row);
    }

    /// Adds a line printed under the table, such as how a value was measured.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Renders the rows as a Markdown table, then the notes.
    pub fn render(&self) -> String {
        let mut out = String::from("| section | measurement | vprolab | peer | ratio |\n|---|---|---|---|---|\n");
        for row in &self.rows {
            let _ = writeln!(out, "| {} | {} | {} | {} | {} |", row.section, row.measurement, row.vprolab, row.peer, row.ratio);
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n- {note}");
        }
        out
    }
}

/// Formats milliseconds with one decimal.
pub fn ms(value: f64) -> String {
    format!("{value:.1} ms")
}

/// Formats a time ratio, vprolab's over the peer's: below 1 means vprolab is faster.
pub fn time_ratio(vprolab: f64, peer: f64) -> String {
    if peer <= 0.0 {
        return "n/a".into();
    }
    format!("{:.2}x the time", vprolab / peer)
}

/// Formats a rate ratio, vprolab's over the peer's: above 1 means vprolab is faster.
pub fn rate_ratio(vprolab: f64, peer: f64) -> String {
    if peer <= 0.0 {
        return "n/a".into();
    }
    format!("{:.2}x the rate", vprolab / peer)
}
