//! On-call schedules: layers of rotations, restricted to hours of the week,
//! stacked (a later layer wins where it covers), with overrides on top (the
//! latest override wins). The time math lives here, pure and
//! property-tested: handoffs are civil times in the layer's time zone, so a
//! daily 09:00 handoff stays at 09:00 across daylight-saving changes, and
//! every boundary is computed by one function, so no shift is lost or
//! doubled.

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How long each participant's turn lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// Whole local days: the handoff keeps its wall-clock time across DST.
    Days(u32),
    /// Exact hours, for shifts shorter than a day.
    Hours(u32),
}

/// When a layer is active: on these weekdays from `from` to `to`, local
/// time (`to` at or before `from` means the window runs past midnight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    #[serde(with = "weekday_names")]
    pub days: Vec<Weekday>,
    pub from: Time,
    pub to: Time,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    /// Handles, in rotation order.
    pub participants: Vec<String>,
    pub rotation: Rotation,
    /// The first handoff, local time in `time_zone`: `participants[0]`
    /// starts here.
    pub start: DateTime,
    /// IANA name; each layer may have its own (follow-the-sun).
    pub time_zone: String,
    /// Empty: always active.
    pub restrictions: Vec<Restriction>,
}

/// A named on-call schedule from the config: its layers, stacked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// The zone the schedule is shown in; layers may have their own.
    pub time_zone: String,
    pub layers: Vec<Layer>,
}

/// Someone takes over a schedule for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub id: i64,
    pub person: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Who is on call from `start` to `end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shift {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub person: String,
    /// The layer it comes from, by index; `None` for an override.
    pub layer: Option<usize>,
    /// The override it comes from.
    pub override_id: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("unknown time zone `{0}`")]
    UnknownTimeZone(String),
    #[error("a rotation needs at least one participant")]
    NoParticipants,
    #[error("a rotation must last at least one hour or one day")]
    EmptyRotation,
    #[error("the start `{0}` does not exist in the time zone")]
    InvalidStart(String),
}

/// Weekdays as lower-case English names, as the config writes them.
pub mod weekday_names {
    use jiff::civil::Weekday;
    use serde::{Deserialize, Deserializer, Serializer};

    pub const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];

    pub fn name(day: Weekday) -> &'static str {
        NAMES[day.to_monday_zero_offset() as usize]
    }

    pub fn parse(text: &str) -> Option<Weekday> {
        let lower = text.to_ascii_lowercase();
        let index = NAMES.iter().position(|n| *n == lower || n[..3] == lower)?;
        Weekday::from_monday_zero_offset(index as i8).ok()
    }

    pub fn serialize<S: Serializer>(days: &[Weekday], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(days.iter().map(|d| name(*d)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names
            .iter()
            .map(|n| {
                parse(n).ok_or_else(|| serde::de::Error::custom(format!("unknown weekday `{n}`")))
            })
            .collect()
    }
}

/// A layer made ready for arithmetic: its time zone resolved.
struct Rotating<'a> {
    layer: &'a Layer,
    tz: TimeZone,
    start: Timestamp,
}

impl Layer {
    fn prepared(&self) -> Result<Rotating<'_>, ScheduleError> {
        if self.participants.is_empty() {
            return Err(ScheduleError::NoParticipants);
        }
        if matches!(self.rotation, Rotation::Days(0) | Rotation::Hours(0)) {
            return Err(ScheduleError::EmptyRotation);
        }
        let tz = TimeZone::get(&self.time_zone)
            .map_err(|_| ScheduleError::UnknownTimeZone(self.time_zone.clone()))?;
        let start = tz
            .to_timestamp(self.start)
            .map_err(|_| ScheduleError::InvalidStart(self.start.to_string()))?;
        Ok(Rotating {
            layer: self,
            tz,
            start,
        })
    }

    /// Checks the layer can be computed with: participants, a rotation
    /// length, a known time zone.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.prepared().map(|_| ())
    }
}

impl Rotating<'_> {
    /// The instant of handoff number `k` (0 is the start). The only place
    /// boundaries are computed, so the end of one turn is always exactly the
    /// start of the next.
    fn handoff(&self, k: i64) -> Timestamp {
        match self.layer.rotation {
            Rotation::Days(days) => {
                // Past jiff's range of days, the handoff is past every date.
                let local = jiff::Span::new()
                    .try_days(k.saturating_mul(i64::from(days)))
                    .ok()
                    .and_then(|offset| self.layer.start.checked_add(offset).ok())
                    .unwrap_or(if k < 0 { DateTime::MIN } else { DateTime::MAX });
                // Compatible disambiguation, as RFC 5545 reads local times:
                // a handoff in a skipped hour moves forward by the gap
                // (02:30 becomes 03:30); in a repeated hour, the first time.
                self.tz.to_timestamp(local).unwrap_or(if k < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                })
            }
            Rotation::Hours(hours) => k
                .checked_mul(i64::from(hours) * 3600)
                .and_then(|secs| self.start.checked_add(SignedDuration::from_secs(secs)).ok())
                .unwrap_or(if k < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                }),
        }
    }

    /// The number of the turn under way at `at` (negative before the start).
    fn turn_at(&self, at: Timestamp) -> i64 {
        let length = match self.layer.rotation {
            Rotation::Days(days) => SignedDuration::from_hours(24 * i64::from(days)),
            Rotation::Hours(hours) => SignedDuration::from_hours(i64::from(hours)),
        };
        let elapsed = at.duration_since(self.start);
        let mut k = elapsed.as_secs().div_euclid(length.as_secs().max(1));
        // The estimate is off by at most one around DST changes.
        while self.handoff(k) > at {
            k -= 1;
        }
        while self.handoff(k + 1) <= at {
            k += 1;
        }
        k
    }

    fn person(&self, k: i64) -> &str {
        let count = self.layer.participants.len() as i64;
        &self.layer.participants[k.rem_euclid(count) as usize]
    }

    /// The rotation's turns within `[from, to)`, clipped, before
    /// restrictions; nothing before the layer starts.
    fn turns(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp, &str)> {
        let mut turns = Vec::new();
        let from = from.max(self.start);
        if from >= to {
            return turns;
        }
        let mut k = self.turn_at(from);
        loop {
            let start = self.handoff(k).max(from);
            if start >= to {
                break;
            }
            let end = self.handoff(k + 1).min(to);
            if end > start {
                turns.push((start, end, self.person(k)));
            }
            k += 1;
        }
        turns
    }

    /// The restriction windows overlapping `[from, to)`, as instants.
    fn active_windows(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let restrictions = &self.layer.restrictions;
        if restrictions.is_empty() {
            return vec![(from, to)];
        }
        let first_day = from
            .to_zoned(self.tz.clone())
            .date()
            .yesterday()
            .unwrap_or(jiff::civil::Date::MIN);
        let last_day = to.to_zoned(self.tz.clone()).date();
        let mut windows = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            for restriction in restrictions
                .iter()
                .filter(|r| r.days.contains(&day.weekday()))
            {
                let start_local = day.to_datetime(restriction.from);
                let end_day = if restriction.to <= restriction.from {
                    day.tomorrow().unwrap_or(day)
                } else {
                    day
                };
                let end_local = end_day.to_datetime(restriction.to);
                let (Ok(start), Ok(end)) = (
                    self.tz.to_timestamp(start_local),
                    self.tz.to_timestamp(end_local),
                ) else {
                    continue;
                };
                let (start, end) = (start.max(from), end.min(to));
                if start < end {
                    windows.push((start, end));
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        merge_intervals(windows)
    }

    /// Who this layer puts on call within `[from, to)`.
    fn shifts(&self, index: usize, from: Timestamp, to: Timestamp) -> Vec<Shift> {
        let windows = self.active_windows(from, to);
        let mut shifts = Vec::new();
        for (start, end, person) in self.turns(from, to) {
            for &(active_start, active_end) in &windows {
                let (s, e) = (start.max(active_start), end.min(active_end));
                if s < e {
                    shifts.push(Shift {
                        start: s,
                        end: e,
                        person: person.to_string(),
                        layer: Some(index),
                        override_id: None,
                    });
                }
            }
        }
        shifts
    }
}

/// A local date and time as people write one (`2026-11-02T09:00`), in a
/// zone given elsewhere. An offset or a zone in the text is refused, not
/// ignored: `09:00+08:00` read as 09:00 in London would be wrong quietly.
pub fn local_date_time(text: &str) -> Option<DateTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let plain = date.chars().all(|c| c.is_ascii_digit() || c == '-') && plain_time(time);
    plain.then(|| text.parse().ok()).flatten()
}

/// A time of day as people write one (`09:00`, `17:30:15`); a date, an
/// offset or a zone in the text is refused, not ignored.
pub fn local_time(text: &str) -> Option<Time> {
    let text = text.trim();
    plain_time(text).then(|| text.parse().ok()).flatten()
}

fn plain_time(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || c == ':' || c == '.' || c == ',')
}

/// Sorted, non-overlapping union of intervals.
fn merge_intervals(mut intervals: Vec<(Timestamp, Timestamp)>) -> Vec<(Timestamp, Timestamp)> {
    intervals.sort();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The final on-call shifts of a schedule within `[from, to)`: overrides
/// first (the latest, by id, wins), then the highest layer covering each
/// moment. Sorted, non-overlapping; consecutive pieces of one person from
/// one source are joined.
pub fn final_shifts(
    layers: &[Layer],
    overrides: &[Override],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Shift>, ScheduleError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let prepared: Vec<Rotating<'_>> = layers
        .iter()
        .map(Layer::prepared)
        .collect::<Result<_, _>>()?;
    let per_layer: Vec<Vec<Shift>> = prepared
        .iter()
        .enumerate()
        .map(|(i, layer)| layer.shifts(i, from, to))
        .collect();
    let overrides: Vec<&Override> = overrides
        .iter()
        .filter(|o| o.start < to && o.end > from && o.start < o.end)
        .collect();

    let mut cuts: Vec<Timestamp> = vec![from, to];
    for shift in per_layer.iter().flatten() {
        cuts.extend([shift.start, shift.end]);
    }
    for o in &overrides {
        cuts.extend([o.start.max(from), o.end.min(to)]);
    }
    cuts.sort();
    cuts.dedup();

    let mut result: Vec<Shift> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let winner = overrides
            .iter()
            .filter(|o| o.start <= start && end <= o.end)
            .max_by_key(|o| o.id)
            .map(|o| Shift {
                start,
                end,
                person: o.person.clone(),
                layer: None,
                override_id: Some(o.id),
            })
            .or_else(|| {
                per_layer.iter().rev().find_map(|shifts| {
                    // A layer's shifts are in order and apart: the first
                    // one ending after `start` is the only candidate.
                    let at = shifts.partition_point(|s| s.end <= start);
                    shifts
                        .get(at)
                        .filter(|s| s.start <= start && end <= s.end)
                        .map(|s| Shift {
                            start,
                            end,
                            ..s.clone()
                        })
                })
            });
        let Some(piece) = winner else { continue };
        match result.last_mut() {
            Some(last)
                if last.end == piece.start
                    && last.person == piece.person
                    && last.layer == piece.layer
                    && last.override_id == piece.override_id =>
            {
                last.end = piece.end;
            }
            _ => result.push(piece),
        }
    }
    Ok(result)
}

/// Who is on call at `at`, if anyone.
pub fn on_call_at(
    layers: &[Layer],
    overrides: &[Override],
    at: Timestamp,
) -> Result<Option<Shift>, ScheduleError> {
    let Some(next) = at.checked_add(SignedDuration::from_millis(1)).ok() else {
        return Ok(None);
    };
    Ok(final_shifts(layers, overrides, at, next)?
        .into_iter()
        .next())
}

/// The person on call at `at` in `shifts` (in order, as
/// [`final_shifts`] gives them), with the whole stretch they are on call
/// without a break: pieces that meet and are theirs are one stretch
/// whatever their source, so "on call until" says when they are free (an
/// override of theirs that ends where their own rotation goes on is no
/// handoff).
pub fn stretch_at(shifts: &[Shift], at: Timestamp) -> Option<(&Shift, Timestamp, Timestamp)> {
    let i = shifts.iter().position(|s| s.start <= at && at < s.end)?;
    let piece = &shifts[i];
    let theirs = |s: &Shift| s.person == piece.person;
    let mut first = i;
    while first > 0 && shifts[first - 1].end == shifts[first].start && theirs(&shifts[first - 1]) {
        first -= 1;
    }
    let mut last = i;
    while last + 1 < shifts.len()
        && shifts[last + 1].start == shifts[last].end
        && theirs(&shifts[last + 1])
    {
        last += 1;
    }
    Some((piece, shifts[first].start, shifts[last].end))
}

/// The times within `[from, to)` when nobody is on call.
pub fn gaps(shifts: &[Shift], from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let mut gaps = Vec::new();
    let mut cursor = from;
    for shift in shifts {
        if shift.start > cursor {
            gaps.push((cursor, shift.start));
        }
        cursor = cursor.max(shift.end);
    }
    if cursor < to {
        gaps.push((cursor, to));
    }
    gaps
}

/// How long each person is on call in these shifts, most first.
pub fn load(shifts: &[Shift]) -> Vec<(String, SignedDuration)> {
    let mut totals: std::collections::BTreeMap<&str, SignedDuration> =
        std::collections::BTreeMap::new();
    for shift in shifts {
        let total = totals.entry(&shift.person).or_default();
        *total = total.saturating_add(shift.end.duration_since(shift.start));
    }
    let mut load: Vec<(String, SignedDuration)> = totals
        .into_iter()
        .map(|(p, d)| (p.to_string(), d))
        .collect();
    load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    load
}

/// Someone who carries far more of a schedule than the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overload {
    pub person: String,
    pub carried: SignedDuration,
    /// The average of everyone else in the schedule.
    pub others_average: SignedDuration,
}

impl Layer {
    /// How long until the rotation comes back to its first participant
    /// (days counted as 24 hours).
    pub fn cycle(&self) -> SignedDuration {
        let turn = match self.rotation {
            Rotation::Days(days) => SignedDuration::from_hours(24 * i64::from(days)),
            Rotation::Hours(hours) => SignedDuration::from_hours(i64::from(hours)),
        };
        turn.saturating_mul(i32::try_from(self.participants.len()).unwrap_or(i32::MAX))
    }
}

/// What a layer's handoffs do when its zone's clocks change within a year
/// of `now`, where a reader of the config may not expect it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockChange {
    /// A rotation in exact hours that fits a day (`12h`, `24h`, `168h`):
    /// after the change its handoffs come an hour earlier or later by the
    /// clock.
    HoursDrift {
        layer: String,
        hours: u32,
        zone: String,
        first: Timestamp,
    },
    /// A handoff at a local time the change skips: it happens when the
    /// clock reaches the time after the gap (02:30 becomes 03:30).
    Skipped {
        layer: String,
        zone: String,
        local: DateTime,
    },
    /// A handoff at a local time the change repeats: the first one counts.
    Repeated {
        layer: String,
        zone: String,
        local: DateTime,
    },
}

impl std::fmt::Display for ClockChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClockChange::HoursDrift {
                layer,
                hours,
                zone,
                first,
            } => write!(
                f,
                "layer {layer} rotates every {hours}h, exact hours: when the clocks in {zone} change (next at {}), its handoffs move an hour by the clock; for handoffs at set local times, rotate by days (`daily`, `weekly`, `2d`) with restrictions",
                first.strftime("%Y-%m-%d %H:%M UTC")
            ),
            ClockChange::Skipped { layer, zone, local } => write!(
                f,
                "layer {layer} hands over at {}, a time the clocks in {zone} skip: that handoff happens when they reach the end of the gap",
                local.strftime("%Y-%m-%d %H:%M")
            ),
            ClockChange::Repeated { layer, zone, local } => write!(
                f,
                "layer {layer} hands over at {}, a time the clocks in {zone} pass twice: the first counts",
                local.strftime("%Y-%m-%d %H:%M")
            ),
        }
    }
}

/// The [`ClockChange`]s of `layer` in the year after `now`.
pub fn clock_changes(layer: &Layer, now: Timestamp) -> Vec<ClockChange> {
    let Ok(tz) = TimeZone::get(&layer.time_zone) else {
        return Vec::new();
    };
    let until = now
        .saturating_add(SignedDuration::from_hours(24 * 366))
        .unwrap_or(now);
    let Some(first) = tz
        .following(now)
        .map(|transition| transition.timestamp())
        .find(|at| *at > now)
        .filter(|at| *at <= until)
    else {
        return Vec::new();
    };
    match layer.rotation {
        Rotation::Hours(hours) if hours > 0 && (24 % hours == 0 || hours % 24 == 0) => {
            vec![ClockChange::HoursDrift {
                layer: layer.name.clone(),
                hours,
                zone: layer.time_zone.clone(),
                first,
            }]
        }
        Rotation::Hours(_) | Rotation::Days(0) => Vec::new(),
        Rotation::Days(days) => {
            let mut changes = Vec::new();
            let step = jiff::Span::new().days(i64::from(days));
            // The handoffs from the last before `now` to a year on: at
            // most 367 of them, for a daily rotation.
            let behind = layer
                .start
                .date()
                .until(tz.to_datetime(now).date())
                .map_or(0, |span| i64::from(span.get_days()));
            let turns = behind.div_euclid(i64::from(days)).max(0);
            let Some(mut local) = jiff::Span::new()
                .try_days(turns.saturating_mul(i64::from(days)))
                .ok()
                .and_then(|span| layer.start.checked_add(span).ok())
            else {
                return changes;
            };
            let last = tz.to_datetime(until);
            while local <= last {
                let change = match tz.to_ambiguous_timestamp(local).offset() {
                    jiff::tz::AmbiguousOffset::Unambiguous { .. } => None,
                    jiff::tz::AmbiguousOffset::Gap { .. } => Some(ClockChange::Skipped {
                        layer: layer.name.clone(),
                        zone: layer.time_zone.clone(),
                        local,
                    }),
                    jiff::tz::AmbiguousOffset::Fold { .. } => Some(ClockChange::Repeated {
                        layer: layer.name.clone(),
                        zone: layer.time_zone.clone(),
                        local,
                    }),
                };
                changes.extend(change);
                let Ok(next) = local.checked_add(step) else {
                    break;
                };
                local = next;
            }
            changes
        }
    }
}

/// Who carries far more than the others in `shifts`, which cover the
/// period `[from, to)`: anyone on call for more than **twice the average
/// of everyone else** in the schedule (the participants of its layers in
/// force in the period, and anyone in the shifts, such as an override).
/// Judged only when every layer in force comes round to all its
/// participants within the part of the period it is in force (its cycle
/// fits); otherwise the period itself is uneven: a monthly rotation puts
/// one person on call for all of four weeks, and that is no imbalance. A
/// layer that starts after the period (a rotation planned ahead) has nobody
/// on call in it yet, and nobody to compare with.
pub fn overloaded(
    layers: &[Layer],
    shifts: &[Shift],
    from: Timestamp,
    to: Timestamp,
) -> Vec<Overload> {
    let mut in_force = Vec::new();
    for layer in layers {
        let Ok(rotating) = layer.prepared() else {
            continue;
        };
        if rotating.start >= to {
            continue;
        }
        if layer.cycle() > to.duration_since(rotating.start.max(from)) {
            return Vec::new();
        }
        in_force.push(layer);
    }
    let mut people: std::collections::BTreeSet<&str> = in_force
        .iter()
        .flat_map(|layer| layer.participants.iter().map(String::as_str))
        .collect();
    people.extend(shifts.iter().map(|s| s.person.as_str()));
    let others = i64::try_from(people.len()).unwrap_or(i64::MAX) - 1;
    if others < 1 {
        return Vec::new();
    }
    let carried = load(shifts);
    let total: i64 = carried.iter().map(|(_, d)| d.as_secs()).sum();
    carried
        .into_iter()
        .filter_map(|(person, duration)| {
            let mine = duration.as_secs();
            let rest = total - mine;
            // mine > 2 × rest / others, in whole seconds to stay exact.
            (i128::from(mine) * i128::from(others) > 2 * i128::from(rest)).then(|| Overload {
                person,
                carried: duration,
                others_average: SignedDuration::from_secs(rest / others),
            })
        })
        .collect()
}

/// One event of a calendar feed: a shift and what to call it.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    pub shift: Shift,
    pub summary: String,
    /// Keeps UIDs unique across feeds and schedules (`schedule-NAME`,
    /// `person-HANDLE-SCHEDULE`).
    pub scope: String,
}

/// Escapes iCalendar TEXT: backslash, `;` and `,` are escaped, line breaks
/// (CRLF, LF or a lone CR) become `\n`, and other control characters,
/// which TEXT may not hold, are dropped.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An event's UID, stable while the feed's window slides: a shift is named
/// by its start; a shift that began before `computed_from` (so its start
/// is only where the computation began) by its end; one that also runs past
/// `computed_to` as the scope's ongoing shift. Calendar apps match events
/// by UID, so a UID that changed with the window would duplicate or drop
/// events on every refresh.
fn event_uid(event: &FeedEvent, computed_from: Timestamp, computed_to: Timestamp) -> String {
    let shift = &event.shift;
    let when = if shift.start > computed_from {
        shift.start.as_second().to_string()
    } else if shift.end < computed_to {
        format!("until-{}", shift.end.as_second())
    } else {
        "ongoing".to_string()
    };
    format!("{}-{}-{when}@siaga", event.scope, shift.person)
}

/// An iCalendar (RFC 5545) document with one event per feed event.
/// `calendar` names it in calendar apps; the shifts were computed over
/// `[computed_from, computed_to)`, which keeps their UIDs stable.
pub fn to_ical(
    calendar: &str,
    events: &[FeedEvent],
    computed_from: Timestamp,
    computed_to: Timestamp,
    stamp: Timestamp,
) -> String {
    fn utc(at: Timestamp) -> String {
        at.strftime("%Y%m%dT%H%M%SZ").to_string()
    }
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//siaga//on-call//EN".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        format!("X-WR-CALNAME:{}", escape_text(calendar)),
    ];
    for event in events {
        lines.extend([
            "BEGIN:VEVENT".to_string(),
            format!(
                "UID:{}",
                escape_text(&event_uid(event, computed_from, computed_to))
            ),
            format!("DTSTAMP:{}", utc(stamp)),
            format!("DTSTART:{}", utc(event.shift.start)),
            format!("DTEND:{}", utc(event.shift.end)),
            format!("SUMMARY:{}", escape_text(&event.summary)),
            "TRANSP:OPAQUE".to_string(),
            "END:VEVENT".to_string(),
        ]);
    }
    if events.is_empty() {
        // RFC 5545 wants at least one component: with no shift to show, a
        // time zone definition of UTC (the zone every time above is in).
        lines.extend(
            [
                "BEGIN:VTIMEZONE",
                "TZID:UTC",
                "BEGIN:STANDARD",
                "DTSTART:19700101T000000",
                "TZOFFSETFROM:+0000",
                "TZOFFSETTO:+0000",
                "TZNAME:UTC",
                "END:STANDARD",
                "END:VTIMEZONE",
            ]
            .map(String::from),
        );
    }
    lines.push("END:VCALENDAR".to_string());
    let mut out = String::new();
    for line in lines {
        out.push_str(&fold(&line));
        out.push_str("\r\n");
    }
    out
}

/// Folds a content line at 75 octets, as RFC 5545 asks, never inside a
/// character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let size = c.len_utf8();
        if width + size > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += size;
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn local_times_refuse_an_offset_or_zone_rather_than_ignore_it() {
        assert_eq!(
            super::local_date_time(" 2026-11-02T09:00 "),
            Some(jiff::civil::date(2026, 11, 2).at(9, 0, 0, 0))
        );
        assert_eq!(
            super::local_time("17:30"),
            Some(jiff::civil::time(17, 30, 0, 0))
        );
        for refused in [
            "2026-11-02T09:00+08:00",
            "2026-11-02T09:00-05:00",
            "2026-11-02T09:00Z",
            "2026-11-02T09:00[Asia/Jakarta]",
            "2026-11-02",
            "tomorrow",
        ] {
            assert_eq!(super::local_date_time(refused), None, "{refused}");
        }
        for refused in ["09:00+08:00", "2026-11-02T09:00", "09:00[UTC]", "9am"] {
            assert_eq!(super::local_time(refused), None, "{refused}");
        }
    }
    use super::*;
    use jiff::ToSpan;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn layer(participants: &[&str], rotation: Rotation, start: DateTime, tz: &str) -> Layer {
        Layer {
            name: "primary".into(),
            participants: participants.iter().map(|p| p.to_string()).collect(),
            rotation,
            start,
            time_zone: tz.into(),
            restrictions: Vec::new(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn hour_rotations_that_fit_a_day_warn_where_clocks_change() {
        let now = at("2026-12-07T00:00:00Z");
        let start = date(2026, 11, 2).at(8, 0, 0, 0);
        let warned =
            |rotation, tz| !clock_changes(&layer(&["a", "b"], rotation, start, tz), now).is_empty();
        for hours in [6, 8, 12, 24, 48, 168] {
            assert!(warned(Rotation::Hours(hours), "Europe/London"), "{hours}h");
        }
        assert!(
            !warned(Rotation::Hours(5), "Europe/London"),
            "5h has no clock time to keep"
        );
        assert!(
            !warned(Rotation::Hours(12), "Asia/Kuala_Lumpur"),
            "no clock changes there"
        );
        assert!(
            !warned(Rotation::Days(1), "Europe/London"),
            "08:00 is never skipped"
        );
        let drift = clock_changes(
            &layer(&["a"], Rotation::Hours(12), start, "Europe/London"),
            now,
        );
        assert_eq!(
            drift,
            vec![ClockChange::HoursDrift {
                layer: "primary".into(),
                hours: 12,
                zone: "Europe/London".into(),
                first: at("2027-03-28T01:00:00Z"),
            }]
        );
        assert!(
            drift[0]
                .to_string()
                .contains("next at 2027-03-28 01:00 UTC")
        );
    }

    #[test]
    fn handoffs_in_a_skipped_or_repeated_hour_warn_on_their_dates() {
        let now = at("2026-12-07T00:00:00Z");
        // London skips 01:00–02:00 on 2027-03-28 and passes it twice on
        // 2027-10-31, both Sundays.
        let daily = layer(
            &["a"],
            Rotation::Days(1),
            date(2020, 1, 1).at(1, 30, 0, 0),
            "Europe/London",
        );
        assert_eq!(
            clock_changes(&daily, now),
            vec![
                ClockChange::Skipped {
                    layer: "primary".into(),
                    zone: "Europe/London".into(),
                    local: date(2027, 3, 28).at(1, 30, 0, 0),
                },
                ClockChange::Repeated {
                    layer: "primary".into(),
                    zone: "Europe/London".into(),
                    local: date(2027, 10, 31).at(1, 30, 0, 0),
                },
            ]
        );
        // Weekly from a Monday: no handoff falls on those Sundays.
        let weekly = layer(
            &["a"],
            Rotation::Days(7),
            date(2026, 11, 2).at(1, 30, 0, 0),
            "Europe/London",
        );
        assert_eq!(clock_changes(&weekly, now), vec![]);
        // Weekly from a Sunday: both.
        let sundays = layer(
            &["a"],
            Rotation::Days(7),
            date(2026, 11, 1).at(1, 30, 0, 0),
            "Europe/London",
        );
        assert_eq!(clock_changes(&sundays, now).len(), 2);
        // A layer that starts after the year looked at warns of nothing yet.
        let later = layer(
            &["a"],
            Rotation::Days(1),
            date(2028, 6, 1).at(1, 30, 0, 0),
            "Europe/London",
        );
        assert_eq!(clock_changes(&later, now), vec![]);
    }

    #[test]
    fn turns_longer_than_the_calendar_do_not_panic() {
        for rotation in [Rotation::Days(u32::MAX), Rotation::Hours(u32::MAX)] {
            let long = layer(
                &["a", "b"],
                rotation,
                date(2026, 1, 1).at(0, 0, 0, 0),
                "UTC",
            );
            let shifts = final_shifts(
                &[long],
                &[],
                at("2026-02-01T00:00:00Z"),
                at("2026-03-01T00:00:00Z"),
            )
            .unwrap();
            let people: Vec<&str> = shifts.iter().map(|s| s.person.as_str()).collect();
            assert_eq!(people, ["a"], "{rotation:?}: the first turn never ends");
        }
    }

    #[test]
    fn weekly_rotation_hands_off_at_local_time() {
        let weekly = layer(
            &["aisyah", "budi"],
            Rotation::Days(7),
            date(2026, 11, 2).at(9, 0, 0, 0),
            "Asia/Kuala_Lumpur",
        );
        let shifts = final_shifts(
            &[weekly],
            &[],
            at("2026-11-02T01:00:00Z"),
            at("2026-11-16T01:00:00Z"),
        )
        .unwrap();
        let people: Vec<&str> = shifts.iter().map(|s| s.person.as_str()).collect();
        assert_eq!(people, ["aisyah", "budi"]);
        assert_eq!(
            shifts[1].start,
            at("2026-11-09T01:00:00Z"),
            "09:00 in Kuala Lumpur is 01:00 UTC"
        );
    }

    #[test]
    fn daily_handoff_keeps_its_wall_clock_time_across_dst() {
        // New York moves to EDT on 2027-03-14: handoffs stay at 09:00 local.
        let daily = layer(
            &["a", "b", "c"],
            Rotation::Days(1),
            date(2027, 3, 10).at(9, 0, 0, 0),
            "America/New_York",
        );
        let shifts = final_shifts(
            &[daily],
            &[],
            at("2027-03-12T14:00:00Z"),
            at("2027-03-16T14:00:00Z"),
        )
        .unwrap();
        let tz = TimeZone::get("America/New_York").unwrap();
        for shift in &shifts[1..] {
            assert_eq!(
                shift.start.to_zoned(tz.clone()).time(),
                jiff::civil::time(9, 0, 0, 0)
            );
        }
        let short = shifts
            .iter()
            .find(|s| s.start == at("2027-03-13T14:00:00Z"))
            .unwrap();
        assert_eq!(
            short.end.duration_since(short.start),
            SignedDuration::from_hours(23),
            "the spring-forward day is 23 h"
        );
    }

    #[test]
    fn restrictions_leave_gaps_and_later_layers_and_overrides_win() {
        let mut office = layer(
            &["lead"],
            Rotation::Days(7),
            date(2026, 11, 2).at(0, 0, 0, 0),
            "UTC",
        );
        office.restrictions = vec![Restriction {
            days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            from: jiff::civil::time(9, 0, 0, 0),
            to: jiff::civil::time(18, 0, 0, 0),
        }];
        let base = layer(
            &["night"],
            Rotation::Days(1),
            date(2026, 11, 2).at(0, 0, 0, 0),
            "UTC",
        );
        let overrides = [
            Override {
                id: 1,
                person: "cover".into(),
                start: at("2026-11-02T10:00:00Z"),
                end: at("2026-11-02T12:00:00Z"),
            },
            Override {
                id: 2,
                person: "cover2".into(),
                start: at("2026-11-02T11:00:00Z"),
                end: at("2026-11-02T11:30:00Z"),
            },
        ];
        let layers = [base, office];
        let who = |t: &str| {
            on_call_at(&layers, &overrides, at(t))
                .unwrap()
                .map(|s| s.person)
        };
        assert_eq!(who("2026-11-02T08:00:00Z").as_deref(), Some("night"));
        assert_eq!(
            who("2026-11-02T09:30:00Z").as_deref(),
            Some("lead"),
            "the later layer wins in office hours"
        );
        assert_eq!(who("2026-11-02T10:30:00Z").as_deref(), Some("cover"));
        assert_eq!(
            who("2026-11-02T11:15:00Z").as_deref(),
            Some("cover2"),
            "an override of an override wins"
        );
        assert_eq!(
            who("2026-11-07T10:00:00Z").as_deref(),
            Some("night"),
            "Saturday has no office layer"
        );
        let only_office = [layers[1].clone()];
        let shifts = final_shifts(
            &only_office,
            &[],
            at("2026-11-02T00:00:00Z"),
            at("2026-11-03T00:00:00Z"),
        )
        .unwrap();
        let holes = gaps(
            &shifts,
            at("2026-11-02T00:00:00Z"),
            at("2026-11-03T00:00:00Z"),
        );
        assert_eq!(
            holes,
            [
                (at("2026-11-02T00:00:00Z"), at("2026-11-02T09:00:00Z")),
                (at("2026-11-02T18:00:00Z"), at("2026-11-03T00:00:00Z"))
            ]
        );
        assert_eq!(
            load(&shifts),
            [("lead".to_string(), SignedDuration::from_hours(9))]
        );
    }

    #[test]
    fn an_ical_feed_without_shifts_still_holds_a_component() {
        let (from, to) = (at("2026-10-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        let ical = to_ical("empty", &[], from, to, at("2026-11-01T00:00:00Z"));
        assert!(!ical.contains("BEGIN:VEVENT"));
        assert!(
            ical.contains("\r\nBEGIN:VTIMEZONE\r\nTZID:UTC\r\n")
                && ical.ends_with("END:VTIMEZONE\r\nEND:VCALENDAR\r\n"),
            "{ical}"
        );
        let shift = Shift {
            start: at("2026-11-02T01:00:00Z"),
            end: at("2026-11-09T01:00:00Z"),
            person: "zul".into(),
            layer: Some(0),
            override_id: None,
        };
        let one = FeedEvent {
            shift,
            summary: "On call".into(),
            scope: "s".into(),
        };
        assert!(!to_ical("one", &[one], from, to, from).contains("VTIMEZONE"));
    }

    #[test]
    fn ical_feeds_are_valid_escaped_and_folded() {
        let shift = |start: &str, end: &str| Shift {
            start: at(start),
            end: at(end),
            person: "zul".into(),
            layer: Some(0),
            override_id: None,
        };
        let event = |shift: Shift| FeedEvent {
            shift,
            summary: "On call: Zul, lead; payments\r\nline\rtwo\u{7}".into(),
            scope: "schedule-payments".into(),
        };
        let (from, to) = (at("2026-10-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        let events = [
            event(shift("2026-11-02T01:00:00Z", "2026-11-09T01:00:00Z")),
            event(shift("2026-10-01T00:00:00Z", "2026-10-05T00:00:00Z")),
            event(shift("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ];
        let ical = to_ical(
            &"payments-primary ".repeat(6),
            &events,
            from,
            to,
            at("2026-11-01T00:00:00Z"),
        );
        assert!(ical.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ical.ends_with("END:VCALENDAR\r\n"));
        assert!(ical.contains("DTSTART:20261102T010000Z\r\n"));
        assert!(
            ical.contains("SUMMARY:On call: Zul\\, lead\\; payments\\nline\\ntwo\r\n"),
            "CRLF and a lone CR are line breaks; BEL is dropped: {ical}"
        );
        assert!(
            !ical.replace("\r\n", "").contains('\r'),
            "no bare CR: {ical}"
        );
        assert!(ical.split("\r\n").all(|line| line.len() <= 75), "{ical}");
        assert_eq!(ical.matches("BEGIN:VEVENT").count(), 3);
        assert!(ical.contains(&format!(
            "UID:schedule-payments-zul-{}@siaga",
            at("2026-11-02T01:00:00Z").as_second()
        )));
        assert!(
            ical.contains(&format!(
                "UID:schedule-payments-zul-until-{}@siaga",
                at("2026-10-05T00:00:00Z").as_second()
            )),
            "a shift clipped at the start is named by its end: {ical}"
        );
        assert!(
            ical.contains("UID:schedule-payments-zul-ongoing@siaga"),
            "{ical}"
        );
    }

    #[test]
    fn overload_is_more_than_twice_the_others_average_over_a_full_cycle() {
        let (from, to) = (at("2026-11-02T00:00:00Z"), at("2026-11-30T00:00:00Z"));
        let judge = |participants: &[&str], rotation: Rotation| {
            let layers = [layer(
                participants,
                rotation,
                date(2026, 11, 2).at(0, 0, 0, 0),
                "UTC",
            )];
            let shifts = final_shifts(&layers, &[], from, to).unwrap();
            overloaded(&layers, &shifts, from, to)
        };
        // Three people a week each: someone gets two of the four weeks,
        // exactly twice the others' average, and that is fair enough.
        assert_eq!(judge(&["a", "b", "c"], Rotation::Days(7)), []);
        // One person holds five days in six.
        assert_eq!(
            judge(&["a", "a", "a", "a", "a", "b"], Rotation::Days(1)),
            [Overload {
                person: "a".into(),
                carried: SignedDuration::from_hours(24 * 24),
                others_average: SignedDuration::from_hours(24 * 4),
            }]
        );
        // A monthly rotation of four cannot be judged in four weeks.
        assert_eq!(judge(&["a", "b", "c", "d"], Rotation::Days(28)), []);
        assert_eq!(judge(&["a"], Rotation::Days(7)), [], "alone is not unfair");

        // Two on call now, and four whose rotation starts at `later`.
        let with_rotation_from = |later: jiff::civil::DateTime| {
            [
                layer(
                    &["a", "b"],
                    Rotation::Days(7),
                    date(2026, 1, 5).at(9, 0, 0, 0),
                    "UTC",
                ),
                layer(&["c", "d", "e", "f"], Rotation::Days(7), later, "UTC"),
            ]
        };
        // A rotation planned to start after the period has nobody on call
        // in it: its people are not "the others" of those on call now.
        let now_and_later = with_rotation_from(date(2027, 6, 7).at(9, 0, 0, 0));
        let shifts = final_shifts(&now_and_later, &[], from, to).unwrap();
        assert_eq!(overloaded(&now_and_later, &shifts, from, to), []);
        // One that starts within it is judged on the part it is in force,
        // here too short for its cycle of four weeks.
        let starting = with_rotation_from(date(2026, 11, 16).at(0, 0, 0, 0));
        let shifts = final_shifts(&starting, &[], from, to).unwrap();
        assert_eq!(overloaded(&starting, &shifts, from, to), []);
    }

    #[test]
    fn bad_layers_are_refused() {
        let mut bad = layer(
            &[],
            Rotation::Days(1),
            date(2026, 1, 1).at(0, 0, 0, 0),
            "UTC",
        );
        assert_eq!(bad.validate(), Err(ScheduleError::NoParticipants));
        bad.participants = vec!["a".into()];
        bad.time_zone = "Mars/Olympus".into();
        assert_eq!(
            bad.validate(),
            Err(ScheduleError::UnknownTimeZone("Mars/Olympus".into()))
        );
        bad.time_zone = "UTC".into();
        bad.rotation = Rotation::Hours(0);
        assert_eq!(bad.validate(), Err(ScheduleError::EmptyRotation));
    }

    const ZONES: [&str; 7] = [
        "UTC",
        "Europe/London",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kuala_Lumpur",
        "America/Santiago",
        // Its clocks change by half an hour.
        "Australia/Lord_Howe",
    ];

    fn arb_layer() -> impl Strategy<Value = Layer> {
        (
            proptest::collection::vec("[a-e]", 1..5),
            prop_oneof![
                (1u32..15).prop_map(Rotation::Days),
                (1u32..49).prop_map(Rotation::Hours)
            ],
            (0i64..800, 0i8..24, 0i8..60),
            0..ZONES.len(),
            proptest::option::of((proptest::collection::vec(0u8..7, 1..7), 0i8..24, 0i8..24)),
        )
            .prop_map(
                |(people, rotation, (day, hour, minute), zone, restriction)| {
                    let start = date(2026, 1, 1)
                        .checked_add(day.days())
                        .unwrap()
                        .at(hour, minute, 0, 0);
                    let restrictions = restriction
                        .map(|(days, from, to)| {
                            vec![Restriction {
                                days: days
                                    .into_iter()
                                    .map(|d| Weekday::from_monday_zero_offset(d as i8).unwrap())
                                    .collect(),
                                from: jiff::civil::time(from, 0, 0, 0),
                                to: jiff::civil::time(to, 0, 0, 0),
                            }]
                        })
                        .unwrap_or_default();
                    Layer {
                        name: "l".into(),
                        participants: people,
                        rotation,
                        start,
                        time_zone: ZONES[zone].into(),
                        restrictions,
                    }
                },
            )
    }

    fn arb_range() -> impl Strategy<Value = (Timestamp, Timestamp)> {
        (0i64..(3 * 365 * 24), 1i64..(60 * 24)).prop_map(|(offset_h, length_h)| {
            let from = at("2026-01-01T00:00:00Z") + SignedDuration::from_hours(offset_h);
            (from, from + SignedDuration::from_hours(length_h))
        })
    }

    fn arb_overrides((from, to): (Timestamp, Timestamp)) -> impl Strategy<Value = Vec<Override>> {
        let span = to.duration_since(from).as_secs().max(1);
        proptest::collection::vec((0..span, 1..span.max(2), "[v-z]"), 0..4).prop_map(move |items| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, (offset, length, person))| {
                    let start = from + SignedDuration::from_secs(offset);
                    Override {
                        id: i as i64 + 1,
                        person,
                        start,
                        end: start + SignedDuration::from_secs(length),
                    }
                })
                .collect()
        })
    }

    /// An oracle of the schedule rules, written again from the documented
    /// semantics and sharing nothing with the implementation above: only
    /// the time-zone database's offset at an instant (`TimeZone::to_offset`)
    /// and civil calendar arithmetic. Where it disagrees with
    /// `final_shifts`, one of the two misreads the rules.
    mod oracle {
        use super::*;

        /// How far from a local time the offsets in force are looked up;
        /// the zones tested change offset at most once in that span.
        const AROUND: SignedDuration = SignedDuration::from_hours(36);

        /// The instant a local wall-clock time names, as RFC 5545 reads
        /// it: in a repeated hour its first occurrence; in a skipped hour
        /// the time read with the offset in force before the gap (so 02:30
        /// on a spring-forward night is 03:30).
        pub fn instant(tz: &TimeZone, local: DateTime) -> Timestamp {
            let as_utc = local.to_zoned(TimeZone::UTC).unwrap().timestamp();
            let before = tz.to_offset(as_utc - AROUND);
            let after = tz.to_offset(as_utc + AROUND);
            let read = |offset: jiff::tz::Offset| {
                as_utc - SignedDuration::from_secs(i64::from(offset.seconds()))
            };
            [before, after]
                .into_iter()
                .map(|offset| (offset, read(offset)))
                .filter(|(offset, t)| tz.to_offset(*t) == *offset)
                .map(|(_, t)| t)
                .min()
                .unwrap_or_else(|| read(before))
        }

        /// The wall-clock time at an instant.
        pub fn local(tz: &TimeZone, t: Timestamp) -> DateTime {
            let offset = SignedDuration::from_secs(i64::from(tz.to_offset(t).seconds()));
            (t + offset).to_zoned(TimeZone::UTC).datetime()
        }

        fn zone(layer: &Layer) -> TimeZone {
            TimeZone::get(&layer.time_zone).unwrap()
        }

        /// Handoff `k` (0 is the layer's start): days keep the wall-clock
        /// time, hours are exact.
        pub fn handoff(layer: &Layer, k: i64) -> Timestamp {
            let tz = zone(layer);
            match layer.rotation {
                Rotation::Days(days) => instant(
                    &tz,
                    layer
                        .start
                        .checked_add((k * i64::from(days)).days())
                        .unwrap(),
                ),
                Rotation::Hours(hours) => {
                    instant(&tz, layer.start) + SignedDuration::from_hours(k * i64::from(hours))
                }
            }
        }

        /// Whose turn it is at `t`, if the layer has started.
        pub fn turn(layer: &Layer, t: Timestamp) -> Option<(i64, &str)> {
            if t < handoff(layer, 0) {
                return None;
            }
            let nominal = match layer.rotation {
                Rotation::Days(days) => 24 * i64::from(days),
                Rotation::Hours(hours) => i64::from(hours),
            };
            let hours = t.duration_since(handoff(layer, 0)).as_hours();
            // At most an hour off the nominal length per turn boundary
            // crossed; start low and walk forward.
            let mut k = (hours / nominal - 2).max(0);
            while handoff(layer, k + 1) <= t {
                k += 1;
            }
            assert!(handoff(layer, k) <= t);
            let n = layer.participants.len() as i64;
            Some((k, &layer.participants[k.rem_euclid(n) as usize]))
        }

        /// The restriction windows of the local days around `t`, as
        /// instants: from `from` on a listed day to `to` the same day, or
        /// the next when `to` is not after `from`.
        pub fn windows(layer: &Layer, day: jiff::civil::Date) -> Vec<(Timestamp, Timestamp)> {
            let tz = zone(layer);
            layer
                .restrictions
                .iter()
                .filter(|r| r.days.contains(&day.weekday()))
                .map(|r| {
                    let end_day = if r.to <= r.from {
                        day.tomorrow().unwrap()
                    } else {
                        day
                    };
                    (
                        instant(&tz, day.to_datetime(r.from)),
                        instant(&tz, end_day.to_datetime(r.to)),
                    )
                })
                .collect()
        }

        pub fn active(layer: &Layer, t: Timestamp) -> bool {
            if layer.restrictions.is_empty() {
                return true;
            }
            let today = local(&zone(layer), t).date();
            [today.yesterday().unwrap(), today]
                .into_iter()
                .flat_map(|day| windows(layer, day))
                .any(|(start, end)| start <= t && t < end)
        }

        /// Who is on call at `t`: the latest override covering it, else
        /// the last layer that has started and is active.
        pub fn on_call(layers: &[Layer], overrides: &[Override], t: Timestamp) -> Option<String> {
            if let Some(o) = overrides
                .iter()
                .filter(|o| o.start <= t && t < o.end)
                .max_by_key(|o| o.id)
            {
                return Some(o.person.clone());
            }
            layers.iter().rev().find_map(|layer| {
                let (_, person) = turn(layer, t)?;
                active(layer, t).then(|| person.to_string())
            })
        }

        /// Every instant within `[from, to)` where the oracle says someone
        /// may change: handoffs and restriction window bounds.
        pub fn boundaries(layers: &[Layer], from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
            let mut points = Vec::new();
            for layer in layers {
                let first = turn(layer, from).map_or(0, |(k, _)| k);
                let mut k = first;
                while handoff(layer, k) < to {
                    points.push(handoff(layer, k));
                    k += 1;
                }
                let tz = zone(layer);
                let mut day = local(&tz, from).date().yesterday().unwrap();
                while day <= local(&tz, to).date() {
                    for (start, end) in windows(layer, day) {
                        points.extend([start, end]);
                    }
                    day = day.tomorrow().unwrap();
                }
            }
            points.retain(|p| from <= *p && *p < to);
            points
        }
    }

    /// Instants just before, at and just after each point, inside the range.
    fn around(
        points: impl IntoIterator<Item = Timestamp>,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<Timestamp> {
        let ms = SignedDuration::from_millis(1);
        points
            .into_iter()
            .flat_map(|p| [p - ms, p, p + ms])
            .filter(|t| from <= *t && *t < to)
            .collect()
    }

    /// Zones that change their clocks, north and south, by an hour and
    /// by half of one (Lord Howe).
    const DST_ZONES: [&str; 5] = [
        "Europe/London",
        "America/New_York",
        "Australia/Sydney",
        "America/Santiago",
        "Australia/Lord_Howe",
    ];

    /// Weekly-ish layers that hand off and open their windows near the
    /// small hours, where the clocks change: 01:00–03:59 often, on the
    /// half hour too.
    fn arb_dst_layer(zone: usize) -> impl Strategy<Value = Layer> {
        let small_hours = prop_oneof![1i8..4, 0i8..24];
        (
            proptest::collection::vec("[a-e]", 1..4),
            prop_oneof![
                Just(Rotation::Days(7)),
                Just(Rotation::Days(14)),
                (1u32..4).prop_map(Rotation::Days),
                (1u32..30).prop_map(Rotation::Hours),
            ],
            (
                0i64..60,
                small_hours.clone(),
                prop_oneof![Just(0i8), Just(30)],
            ),
            proptest::collection::vec(
                (
                    proptest::collection::vec(0i8..7, 1..8),
                    (small_hours.clone(), prop_oneof![Just(0i8), Just(30)]),
                    (small_hours, prop_oneof![Just(0i8), Just(30)]),
                ),
                0..3,
            ),
        )
            .prop_map(
                move |(people, rotation, (day, hour, minute), restrictions)| Layer {
                    name: "l".into(),
                    participants: people,
                    rotation,
                    start: date(2026, 1, 1)
                        .checked_add(day.days())
                        .unwrap()
                        .at(hour, minute, 0, 0),
                    time_zone: DST_ZONES[zone].into(),
                    restrictions: restrictions
                        .into_iter()
                        .map(|(days, from, to)| Restriction {
                            days: days
                                .into_iter()
                                .map(|d| Weekday::from_monday_zero_offset(d).unwrap())
                                .collect(),
                            from: jiff::civil::time(from.0, from.1, 0, 0),
                            to: jiff::civil::time(to.0, to.1, 0, 0),
                        })
                        .collect(),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Shifts are sorted, disjoint and inside the range; with the gaps
        /// they cover the range exactly; at every sampled instant the person
        /// on call is the one the rules give (overrides always win), and
        /// exactly one person is on call wherever any layer covers.
        #[test]
        fn shifts_partition_the_range_and_follow_the_rules(
            layers in proptest::collection::vec(arb_layer(), 1..4),
            (range, overrides) in arb_range().prop_flat_map(|r| (Just(r), arb_overrides(r))),
            samples in proptest::collection::vec(0.0f64..1.0, 20),
        ) {
            let (from, to) = range;
            let shifts = final_shifts(&layers, &overrides, from, to).unwrap();
            let mut cursor = from;
            for shift in &shifts {
                prop_assert!(shift.start >= cursor && shift.start < shift.end && shift.end <= to, "{:?}", shift);
                cursor = shift.end;
            }
            let holes = gaps(&shifts, from, to);
            let covered: i64 = shifts.iter().map(|s| s.end.duration_since(s.start).as_millis() as i64).sum();
            let uncovered: i64 = holes.iter().map(|(s, e)| e.duration_since(*s).as_millis() as i64).sum();
            prop_assert_eq!(covered + uncovered, to.duration_since(from).as_millis() as i64);

            // Random instants, and just before, at and after every edge:
            // shifts', overrides' (where an override must win, or stop
            // winning) and the oracle's handoffs and windows.
            let span = to.duration_since(from).as_millis() as f64;
            let random = samples
                .iter()
                .map(|x| from + SignedDuration::from_millis((span * x) as i64));
            let mut points: Vec<Timestamp> = shifts.iter().flat_map(|s| [s.start, s.end]).collect();
            points.extend(overrides.iter().flat_map(|o| [o.start, o.end]));
            points.extend(oracle::boundaries(&layers, from, to));
            for t in around(points, from, to).into_iter().chain(random) {
                let here: Vec<&Shift> = shifts.iter().filter(|s| s.start <= t && t < s.end).collect();
                prop_assert!(here.len() <= 1, "two people on call at {}", t);
                prop_assert_eq!(here.first().map(|s| s.person.clone()), oracle::on_call(&layers, &overrides, t), "at {}", t);
            }
        }

        /// Weekly, daily and hourly layers with restrictions and overrides,
        /// in zones that change their clocks, over ranges around a change: whoever
        /// `final_shifts` puts on call is whom the oracle names, at random
        /// instants and just before, at and after every boundary either of
        /// them sees (handoffs, window edges, shift edges, the change).
        #[test]
        fn layers_across_dst_agree_with_an_independent_oracle(
            (zone, layers) in (0..DST_ZONES.len())
                .prop_flat_map(|z| (Just(z), proptest::collection::vec(arb_dst_layer(z), 1..3))),
            nth_change in 0usize..6,
            (before, after) in (0i64..(10 * 24), 1i64..(10 * 24)),
            samples in proptest::collection::vec(0.0f64..1.0, 20),
            placed in proptest::collection::vec((0.0f64..1.0, 0.0f64..0.5, "[v-z]"), 0..4),
        ) {
            let tz = TimeZone::get(DST_ZONES[zone]).unwrap();
            let change = tz
                .following(at("2026-02-01T00:00:00Z"))
                .nth(nth_change)
                .unwrap()
                .timestamp();
            let from = change - SignedDuration::from_hours(before);
            let to = change + SignedDuration::from_hours(after);
            // Overrides anywhere in the range, some across the change.
            let span_secs = to.duration_since(from).as_secs();
            let overrides: Vec<Override> = placed
                .iter()
                .enumerate()
                .map(|(i, (at, length, person))| {
                    let start = from + SignedDuration::from_secs((span_secs as f64 * at) as i64);
                    Override {
                        id: i as i64 + 1,
                        person: person.clone(),
                        start,
                        end: start + SignedDuration::from_secs(((span_secs as f64 * length) as i64).max(1)),
                    }
                })
                .collect();
            let shifts = final_shifts(&layers, &overrides, from, to).unwrap();
            let mut points = vec![change];
            points.extend(shifts.iter().flat_map(|s| [s.start, s.end]));
            points.extend(overrides.iter().flat_map(|o| [o.start, o.end]));
            points.extend(oracle::boundaries(&layers, from, to));
            let span = to.duration_since(from).as_millis() as f64;
            let random = samples
                .iter()
                .map(|x| from + SignedDuration::from_millis((span * x) as i64));
            for t in around(points, from, to).into_iter().chain(random) {
                let here: Vec<&Shift> = shifts.iter().filter(|s| s.start <= t && t < s.end).collect();
                prop_assert!(here.len() <= 1, "two people on call at {}", t);
                prop_assert_eq!(
                    here.first().map(|s| s.person.clone()),
                    oracle::on_call(&layers, &overrides, t),
                    "at {} ({} local)", t, oracle::local(&tz, t)
                );
            }
        }

        /// Across clock changes a weekly rotation hands off exactly at the
        /// oracle's handoffs, once a week at its local time, in turn: no
        /// handoff lost, none doubled, none moved.
        #[test]
        fn weekly_handoffs_across_dst_are_the_oracles(
            zone in 0..DST_ZONES.len(),
            (hour, minute) in (0i8..24, prop_oneof![Just(0i8), Just(30)]),
            start_day in 0i64..365,
            weeks in 1i64..40,
            people in 2usize..5,
        ) {
            let participants: Vec<String> = (0..people).map(|i| format!("p{i}")).collect();
            let weekly = Layer {
                name: "weekly".into(),
                participants: participants.clone(),
                rotation: Rotation::Days(7),
                start: date(2026, 1, 1).checked_add(start_day.days()).unwrap().at(hour, minute, 0, 0),
                time_zone: DST_ZONES[zone].into(),
                restrictions: Vec::new(),
            };
            let (from, to) = (oracle::handoff(&weekly, 0), oracle::handoff(&weekly, weeks));
            let shifts = final_shifts(std::slice::from_ref(&weekly), &[], from, to).unwrap();
            let actual: Vec<(Timestamp, Timestamp, &str)> =
                shifts.iter().map(|s| (s.start, s.end, s.person.as_str())).collect();
            let expected: Vec<(Timestamp, Timestamp, &str)> = (0..weeks)
                .map(|k| {
                    (
                        oracle::handoff(&weekly, k),
                        oracle::handoff(&weekly, k + 1),
                        participants[k as usize % people].as_str(),
                    )
                })
                .collect();
            prop_assert_eq!(actual, expected);
        }

        /// Across daylight-saving changes, a daily rotation without
        /// restrictions hands off exactly once per local day, at its local
        /// handoff time (or just after it, if that time is skipped): no
        /// shift lost, none doubled.
        #[test]
        fn no_shift_is_lost_or_doubled_across_dst(
            zone in 0..ZONES.len(),
            (hour, minute) in (0i8..24, 0i8..60),
            start_day in 0i64..365,
            days in 1i64..120,
        ) {
            let tz = TimeZone::get(ZONES[zone]).unwrap();
            let start = date(2026, 1, 1).checked_add(start_day.days()).unwrap().at(hour, minute, 0, 0);
            let daily = layer(&["a", "b", "c"], Rotation::Days(1), start, ZONES[zone]);
            let from = tz.to_timestamp(start).unwrap();
            let last = start.checked_add(days.days()).unwrap();
            let to = tz.to_timestamp(last).unwrap();
            let shifts = final_shifts(std::slice::from_ref(&daily), &[], from, to).unwrap();
            prop_assert_eq!(shifts.len() as i64, days, "one turn per local day");
            for (i, shift) in shifts.iter().enumerate() {
                // The oracle's handoff, which reads local times from the
                // zone's offsets alone, not the code's disambiguation.
                prop_assert_eq!(shift.start, oracle::handoff(&daily, i as i64));
                prop_assert_eq!(shift.person.as_str(), ["a", "b", "c"][i % 3]);
                if i > 0 {
                    prop_assert_eq!(shifts[i - 1].end, shift.start, "contiguous turns");
                }
            }
        }
    }

    #[test]
    fn a_stretch_runs_across_pieces_of_the_same_person() {
        let shift = |start: &str, end: &str, person: &str, override_id: Option<i64>| Shift {
            start: at(start),
            end: at(end),
            person: person.into(),
            layer: override_id.is_none().then_some(0),
            override_id,
        };
        let shifts = [
            shift("2026-11-02T00:00:00Z", "2026-11-02T09:00:00Z", "zul", None),
            shift(
                "2026-11-02T09:00:00Z",
                "2026-11-02T12:00:00Z",
                "zul",
                Some(7),
            ),
            shift("2026-11-02T12:00:00Z", "2026-11-02T18:00:00Z", "zul", None),
            shift(
                "2026-11-02T18:00:00Z",
                "2026-11-03T00:00:00Z",
                "nurul",
                None,
            ),
            // After a gap, zul again: another stretch.
            shift("2026-11-03T01:00:00Z", "2026-11-03T02:00:00Z", "zul", None),
        ];
        let (piece, start, end) = stretch_at(&shifts, at("2026-11-02T10:00:00Z")).unwrap();
        assert_eq!(piece.override_id, Some(7), "the piece covering the moment");
        assert_eq!(
            (start, end),
            (at("2026-11-02T00:00:00Z"), at("2026-11-02T18:00:00Z"))
        );
        let (_, start, end) = stretch_at(&shifts, at("2026-11-03T01:30:00Z")).unwrap();
        assert_eq!(
            (start, end),
            (at("2026-11-03T01:00:00Z"), at("2026-11-03T02:00:00Z"))
        );
        assert!(stretch_at(&shifts, at("2026-11-03T00:30:00Z")).is_none());
    }

    /// Reads an iCalendar TEXT value back, as a calendar app would.
    fn unescape_text(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') | Some('N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                },
                (c, false) => out.push(c),
            }
        }
        out
    }

    proptest! {
        /// Any summary (names and schedules come from people: any
        /// Unicode, line breaks, control characters) gives lines of at most
        /// 75 octets ending in CRLF, and reads back as written, control
        /// characters left out and line breaks kept.
        #[test]
        fn feeds_fold_and_escape_any_text(summary in "\\PC{0,120}|[\\x00-\\x7f]{0,120}|.{0,60}") {
            let start = Timestamp::from_second(1_800_000_000).unwrap();
            let event = FeedEvent {
                shift: Shift {
                    start,
                    end: start + SignedDuration::from_hours(8),
                    person: "zul".into(),
                    layer: Some(0),
                    override_id: None,
                },
                summary: summary.clone(),
                scope: "schedule-primary".into(),
            };
            let ical = to_ical(&summary, &[event], start, start, start);
            prop_assert!(ical.ends_with("\r\n"));
            for line in ical.split_terminator("\r\n") {
                prop_assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
                prop_assert!(!line.contains(['\r', '\n']), "{line:?}");
            }
            let unfolded = ical.replace("\r\n ", "");
            let written = unfolded
                .split_terminator("\r\n")
                .find_map(|line| line.strip_prefix("SUMMARY:"))
                .unwrap();
            let expected: String = summary
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect();
            // `,` and `;` separate values in iCalendar: in TEXT, escaped.
            let mut escaped = false;
            for c in written.chars() {
                prop_assert!(escaped || !matches!(c, ',' | ';'), "{written:?}");
                escaped = !escaped && c == '\\';
            }
            prop_assert_eq!(unescape_text(written), expected);
        }
    }
}
