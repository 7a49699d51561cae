//! When an unprovisioned ME repeats its hello.
//!
//! The firmware sends a hello every minute for the first five minutes, then every five
//! minutes until the first hour is over, then every hour, until the provisioning window
//! closes. The window is set in MEBx or by the OEM, from 6 to 255 hours. The hello's
//! retry count is the number of hellos sent before it.
// NOTE: no Intel page opened here confirms this schedule or the window's range. They are
// as commonly described for the firmware, so the window is a setting.

use std::time::Duration;

use serde::Serialize;

/// Shortest provisioning window the firmware accepts.
pub const MIN_WINDOW: Duration = Duration::from_secs(6 * 3600);
/// Longest provisioning window the firmware accepts.
pub const MAX_WINDOW: Duration = Duration::from_secs(255 * 3600);
/// Window of a profile unless a topology sets another: the default commonly cited for
/// MEBx's provisioning period.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Interval of the lab-fast schedule: short enough that a lab run takes seconds.
pub const LAB_FAST_INTERVAL: Duration = Duration::from_secs(2);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Phases of the firmware schedule: hellos `interval` apart while earlier than `until`.
const FIRMWARE_PHASES: &[(Duration, Duration)] = &[(Duration::from_secs(5 * 60), MINUTE), (HOUR, Duration::from_secs(5 * 60))];

/// When hellos are repeated, as offsets from the first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "schedule", rename_all = "kebab-case")]
pub enum HelloSchedule {
    /// The firmware's schedule, ending when `window` has passed since the first hello.
    Firmware {
        #[serde(serialize_with = "seconds")]
        window: Duration,
    },
    /// One hello every `interval`, with no window: the lab's deadline ends it.
    Fixed {
        #[serde(serialize_with = "seconds")]
        interval: Duration,
    },
}

impl HelloSchedule {
    /// The schedule labs use unless a topology selects the firmware's.
    pub const LAB_FAST: Self = Self::Fixed { interval: LAB_FAST_INTERVAL };

    /// Returns the offset of the hello after the one sent at `at`, or `None` when the
    /// window closes first.
    pub fn next_after(&self, at: Duration) -> Option<Duration> {
        match *self {
            Self::Fixed { interval } => Some(at + interval),
            Self::Firmware { window } => {
                let interval = FIRMWARE_PHASES.iter().find(|(until, _)| at < *until).map_or(HOUR, |(_, interval)| *interval);
                let next = at + interval;
                (next <= window).then_some(next)
            }
        }
    }
}

/// Paces the hellos of one ME on the tokio clock, so that tests can run a whole window
/// in virtual time.
#[derive(Debug)]
pub struct HelloTimer {
    schedule: HelloSchedule,
    start: tokio::time::Instant,
    /// Offset of the next hello from the first, `None` once the window has closed.
    next: Option<Duration>,
    retry_count: u32,
}

impl HelloTimer {
    /// Starts a schedule whose first hello is due now.
    pub fn start(schedule: HelloSchedule) -> Self {
        Self { schedule, start: tokio::time::Instant::now(), next: Some(Duration::ZERO), retry_count: 0 }
    }

    /// Waits until the next hello is due and returns its retry count, or `None` once the
    /// window has closed.
    pub async fn tick(&mut self) -> Option<u32> {
        let at = self.next?;
        tokio::time::sleep_until(self.start + at).await;

        let retry_count = self.retry_count;
        self.retry_count = self.retry_count.saturating_add(1);
        self.next = self.schedule.next_after(at);
        Some(retry_count)
    }

    /// Returns when the next hello is due, `None` once the window has closed.
    pub fn next_due(&self) -> Option<tokio::time::Instant> {
        self.next.map(|at| self.start + at)
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a timer to the end of its window and returns each hello's retry count and
    /// offset from the first.
    async fn run_window(schedule: HelloSchedule) -> Vec<(u32, Duration)> {
        let mut timer = HelloTimer::start(schedule);
        let start = tokio::time::Instant::now();
        let mut hellos = Vec::new();
        while let Some(retry_count) = timer.tick().await {
            hellos.push((retry_count, start.elapsed()));
        }
        hellos
    }

    fn minutes(minutes: u64) -> Duration {
        Duration::from_secs(minutes * 60)
    }

    #[tokio::test(start_paused = true)]
    async fn firmware_schedule_six_hour_window() {
        let real_start = std::time::Instant::now();

        let hellos = run_window(HelloSchedule::Firmware { window: MIN_WINDOW }).await;

        let mut expected: Vec<Duration> = (0..5).map(minutes).collect();
        expected.extend((1..=11).map(|step| minutes(step * 5)));
        expected.extend((1..=6).map(|hour| minutes(hour * 60)));
        let offsets: Vec<Duration> = hellos.iter().map(|(_, at)| *at).collect();
        assert_eq!(offsets, expected);
        let retry_counts: Vec<u32> = hellos.iter().map(|(retry, _)| *retry).collect();
        assert_eq!(retry_counts, (0..22).collect::<Vec<u32>>());
        assert!(real_start.elapsed() < Duration::from_secs(1), "virtual time took {:?} of real time", real_start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn firmware_schedule_intervals_by_phase() {
        let hellos = run_window(HelloSchedule::Firmware { window: DEFAULT_WINDOW }).await;
        let intervals: Vec<Duration> = hellos.windows(2).map(|pair| pair[1].1 - pair[0].1).collect();

        assert!(intervals[..5].iter().all(|interval| *interval == MINUTE), "{intervals:?}");
        assert!(intervals[5..16].iter().all(|interval| *interval == minutes(5)), "{intervals:?}");
        assert!(intervals[16..].iter().all(|interval| *interval == HOUR), "{intervals:?}");
        assert_eq!(hellos.len(), 5 + 11 + 24);
        assert_eq!(hellos.last().unwrap().1, DEFAULT_WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn firmware_schedule_longest_window() {
        let real_start = std::time::Instant::now();

        let hellos = run_window(HelloSchedule::Firmware { window: MAX_WINDOW }).await;

        assert_eq!(hellos.len(), 5 + 11 + 255);
        assert_eq!(hellos.last().unwrap(), &(270, MAX_WINDOW));
        assert!(real_start.elapsed() < Duration::from_secs(1), "virtual time took {:?} of real time", real_start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn firmware_schedule_window_between_hours() {
        let window = MIN_WINDOW + minutes(30);

        let hellos = run_window(HelloSchedule::Firmware { window }).await;

        assert_eq!(hellos.last().unwrap().1, minutes(6 * 60), "no hello after the window closes");
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_schedule_never_closes() {
        let mut timer = HelloTimer::start(HelloSchedule::LAB_FAST);
        let start = tokio::time::Instant::now();

        for expected in 0..1000 {
            assert_eq!(timer.tick().await, Some(expected));
        }
        assert_eq!(start.elapsed(), LAB_FAST_INTERVAL * 999);
        assert_eq!(timer.next_due(), Some(start + LAB_FAST_INTERVAL * 1000));
    }

    #[test]
    fn next_after_closes_at_window() {
        let schedule = HelloSchedule::Firmware { window: MIN_WINDOW };

        assert_eq!(schedule.next_after(Duration::ZERO), Some(MINUTE));
        assert_eq!(schedule.next_after(minutes(4)), Some(minutes(5)));
        assert_eq!(schedule.next_after(minutes(5)), Some(minutes(10)));
        assert_eq!(schedule.next_after(minutes(55)), Some(HOUR));
        assert_eq!(schedule.next_after(HOUR), Some(2 * HOUR));
        assert_eq!(schedule.next_after(MIN_WINDOW), None);
    }
}
