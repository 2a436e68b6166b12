//! On-call: who is on call now and over a range, overrides, schedule
//! quality (gaps and load), and calendar feeds.

use jiff::{SignedDuration, Timestamp};

use super::{App, Caller, Error, Result};
use crate::domain::auth::Role;
use crate::domain::event::{NewEvent, Subject};
use crate::domain::org::{Org, Person};
use crate::domain::schedule::{self, Schedule, Shift};
use crate::store::StoredOverride;

/// The longest range one request may ask about.
pub const MAX_RANGE: SignedDuration = SignedDuration::from_hours(24 * 93);
/// The shortest override: anything less covers nobody's shift.
pub const MIN_OVERRIDE: SignedDuration = SignedDuration::from_mins(1);
/// The most overrides a schedule may have not yet over. Every look at
/// who is on call weighs each against the others, so without a bound a
/// script taking minute-long shifts by the thousand would slow every
/// page of that schedule.
pub const MAX_LIVE_OVERRIDES: usize = 500;
/// How far ahead schedule quality looks.
pub const QUALITY_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 28);
/// How far a calendar feed reaches back and ahead.
const FEED_PAST: SignedDuration = SignedDuration::from_hours(24 * 14);
const FEED_AHEAD: SignedDuration = SignedDuration::from_hours(24 * 90);
/// How much further back a feed's shifts are computed than it shows, so a
/// shift under way at its start keeps its true start (and UID) as the
/// window slides, unless it lasts longer than this.
const FEED_LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 31);
/// The kinds of calendar feed, as stored with their tokens.
pub(crate) const SCHEDULE_FEED: &str = "schedule";
pub(crate) const PERSON_FEED: &str = "person";

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    /// Who is on call now, and until when.
    pub on_call: Option<OnCallShift>,
    /// The shift after this one, if it starts within 31 days.
    pub next: Option<Shift>,
    /// A secret iCalendar URL (path) for calendar apps; only for responders
    /// and admins, and absent until the config made one.
    pub feed_url: Option<String>,
    /// Hours nobody is on call in the next 4 weeks, overrides counted.
    pub gap_hours_ahead: f64,
    /// The first time nobody is on call in the next 4 weeks.
    pub first_gap_ahead: Option<Gap>,
}

/// A schedule's quality over the next 4 weeks, overrides counted.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleQuality {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub gaps: Vec<Gap>,
    pub load: Vec<Load>,
    /// People on call for more than twice the others' average.
    pub overloaded: Vec<Overloaded>,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Overloaded {
    pub person: String,
    pub hours: f64,
    pub others_average_hours: f64,
}

fn hours(duration: SignedDuration) -> f64 {
    (duration.as_secs_f64() / 3600.0 * 10.0).round() / 10.0
}

fn load_rows(shifts: &[Shift]) -> Vec<Load> {
    schedule::load(shifts)
        .into_iter()
        .map(|(person, duration)| Load {
            person,
            hours: hours(duration),
        })
        .collect()
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Gap {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Load {
    pub person: String,
    pub hours: f64,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleDetail {
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub shifts: Vec<Shift>,
    /// Times in the range when nobody is on call.
    pub gaps: Vec<Gap>,
    /// Hours on call per person in the range.
    pub load: Vec<Load>,
    pub overrides: Vec<StoredOverride>,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OnCall {
    pub schedule: String,
    pub shift: Option<OnCallShift>,
}

/// Who is on call at a moment, from when and until when without a break
/// (pieces of theirs that meet, from layers or overrides, are one stretch;
/// `layer` and `override_id` name the piece covering the moment): `null`
/// where that lies more than a year away (a layer of one person never hands
/// over), not a date the window of the search made up.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OnCallShift {
    pub person: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<Timestamp>,
    /// The layer it comes from, by index; `None` for an override.
    pub layer: Option<usize>,
    /// The override it comes from.
    pub override_id: Option<i64>,
}

/// How far either side of a moment its shift's bounds are looked for: a
/// month first (most rotations hand over sooner), then a year.
const SHIFT_REACH: [SignedDuration; 2] = [
    SignedDuration::from_hours(24 * 31),
    SignedDuration::from_hours(24 * 366),
];

/// A schedule quality problem, for `config validate` and the pages.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityWarning {
    pub schedule: String,
    pub message: String,
}

/// Gaps and lopsided load in the coming 4 weeks, for `config validate`
/// (overrides are not known offline, so only the layers count), and
/// handoffs that clock changes in the coming year move or skip. Load is
/// judged by [`schedule::overloaded`]: someone on call for more than twice
/// the others' average, where every rotation comes round in 4 weeks.
pub fn quality_warnings(org: &Org, now: Timestamp) -> Vec<QualityWarning> {
    let to = now.saturating_add(QUALITY_HORIZON).unwrap_or(now);
    let mut warnings = Vec::new();
    for schedule in &org.schedules {
        let Ok(shifts) = schedule::final_shifts(&schedule.layers, &[], now, to) else {
            continue;
        };
        let gaps = schedule::gaps(&shifts, now, to);
        if let Some((first, _)) = gaps.first() {
            let total: SignedDuration = gaps
                .iter()
                .map(|(s, e)| e.duration_since(*s))
                .fold(SignedDuration::ZERO, |a, b| a + b);
            warnings.push(QualityWarning {
                schedule: schedule.name.clone(),
                message: format!(
                    "nobody is on call for {} in the next 4 weeks, {}, the first at {}",
                    human_hours(total),
                    crate::domain::counted(gaps.len(), "gap"),
                    first.strftime("%Y-%m-%d %H:%M UTC")
                ),
            });
        }
        for overload in schedule::overloaded(&schedule.layers, &shifts, now, to) {
            warnings.push(QualityWarning {
                schedule: schedule.name.clone(),
                message: overload_message(&overload),
            });
        }
        for layer in &schedule.layers {
            for change in schedule::clock_changes(layer, now) {
                warnings.push(QualityWarning {
                    schedule: schedule.name.clone(),
                    message: change.to_string(),
                });
            }
        }
    }
    warnings
}

/// How a lopsided load is told, in `config validate` and on the pages.
pub fn overload_message(overload: &schedule::Overload) -> String {
    format!(
        "{} is on call for {} in the next 4 weeks, more than twice the others' average of {}",
        overload.person,
        human_hours(overload.carried),
        human_hours(overload.others_average)
    )
}

pub fn human_hours(duration: SignedDuration) -> String {
    if duration.is_positive() && duration < SignedDuration::from_mins(1) {
        return "under a minute".into();
    }
    let minutes = duration.as_secs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl App {
    fn schedule_named<'a>(&self, org: &'a Org, name: &str) -> Result<&'a Schedule> {
        org.schedule(name).ok_or_else(|| {
            let suggestion =
                crate::config::closest(name, org.schedules.iter().map(|s| s.name.clone()));
            let hint = suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            Error::NotFound(format!("schedule `{name}`{hint}"))
        })
    }

    async fn shifts(
        &self,
        schedule: &Schedule,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<Shift>, Vec<StoredOverride>)> {
        shifts_in(&mut self.store.read().await?, schedule, from, to).await
    }

    /// Who is on call for `schedule` at `at`, if anyone: the shift math
    /// over a minute, not the month `on_call_at` shows. Reads the overrides
    /// within `tx`, so a use case holding a transaction needs no second
    /// connection.
    pub(crate) async fn on_call_person(
        &self,
        tx: &mut crate::store::Tx,
        schedule: &Schedule,
        at: Timestamp,
    ) -> Result<Option<String>> {
        let to = at
            .saturating_add(SignedDuration::from_mins(1))
            .unwrap_or(at);
        let (shifts, _) = shifts_in(tx, schedule, at, to).await?;
        Ok(shifts
            .into_iter()
            .find(|s| s.start <= at && at < s.end)
            .map(|s| s.person))
    }

    /// Every schedule with who is on call now and next; calendar feed URLs
    /// only for responders and above (the URL is a credential to the
    /// shifts, and viewers may not hand it out).
    pub async fn schedules(&self, caller: &Caller) -> Result<Vec<ScheduleView>> {
        let with_feeds = caller.role >= Role::Responder;
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let ahead = now
            .saturating_add(SignedDuration::from_hours(24 * 31))
            .unwrap_or(now);
        let mut tx = self.store.read().await?;
        let mut views = Vec::new();
        for schedule in &org.schedules {
            let (shifts, _) = shifts_in(&mut tx, schedule, now, ahead).await?;
            let current = shift_around(&mut tx, schedule, now).await?;
            let next = match &current {
                None => shifts.iter().find(|s| s.start > now),
                Some(OnCallShift { end: Some(end), .. }) => shifts.iter().find(|s| s.start >= *end),
                Some(OnCallShift { end: None, .. }) => None,
            }
            .cloned();
            let horizon = now.saturating_add(QUALITY_HORIZON).unwrap_or(now);
            let within: Vec<Shift> = shifts
                .iter()
                .filter(|s| s.start < horizon)
                .map(|s| Shift {
                    end: s.end.min(horizon),
                    ..s.clone()
                })
                .collect();
            let gaps = schedule::gaps(&within, now, horizon);
            let gap_total = gaps
                .iter()
                .map(|(s, e)| e.duration_since(*s))
                .fold(SignedDuration::ZERO, |a, b| a + b);
            views.push(ScheduleView {
                gap_hours_ahead: hours(gap_total),
                first_gap_ahead: gaps.first().map(|&(start, end)| Gap { start, end }),
                name: schedule.name.clone(),
                description: schedule.description.clone(),
                time_zone: schedule.time_zone.clone(),
                on_call: current,
                next,
                // Through the transaction held: a second connection per
                // request could leave a full pool waiting on itself.
                feed_url: if with_feeds {
                    tx.feed_token(SCHEDULE_FEED, &schedule.name)
                        .await?
                        .map(|token| feed_address(&org, &token))
                } else {
                    None
                },
            });
        }
        Ok(views)
    }

    /// Who is on call over `[from, to)`, with gaps, load and overrides.
    pub async fn schedule_detail(
        &self,
        name: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<ScheduleDetail> {
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, name)?;
        let from = from.unwrap_or_else(|| self.clock.now());
        let to = to.unwrap_or_else(|| {
            from.saturating_add(SignedDuration::from_hours(24 * 7))
                .unwrap_or(from)
        });
        if to <= from {
            return Err(Error::invalid(
                "invalid_range",
                "to",
                "`to` must be after `from`",
            ));
        }
        if to.duration_since(from) > MAX_RANGE {
            return Err(Error::invalid(
                "range_too_long",
                "to",
                "ask for at most 93 days at a time",
            ));
        }
        let (shifts, overrides) = self.shifts(schedule, from, to).await?;
        let gaps = schedule::gaps(&shifts, from, to)
            .into_iter()
            .map(|(start, end)| Gap { start, end })
            .collect();
        let load = load_rows(&shifts);
        Ok(ScheduleDetail {
            name: schedule.name.clone(),
            description: schedule.description.clone(),
            time_zone: schedule.time_zone.clone(),
            from,
            to,
            shifts,
            gaps,
            load,
            overrides,
        })
    }

    /// Gaps, load and lopsided load over the next 4 weeks, overrides
    /// counted: what the schedule page warns about beyond the week shown.
    pub async fn schedule_quality(&self, name: &str) -> Result<ScheduleQuality> {
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, name)?;
        let from = self.clock.now();
        let to = from.saturating_add(QUALITY_HORIZON).unwrap_or(from);
        let (shifts, _) = self.shifts(schedule, from, to).await?;
        Ok(ScheduleQuality {
            from,
            to,
            gaps: schedule::gaps(&shifts, from, to)
                .into_iter()
                .map(|(start, end)| Gap { start, end })
                .collect(),
            load: load_rows(&shifts),
            overloaded: schedule::overloaded(&schedule.layers, &shifts, from, to)
                .into_iter()
                .map(|o| Overloaded {
                    person: o.person,
                    hours: hours(o.carried),
                    others_average_hours: hours(o.others_average),
                })
                .collect(),
        })
    }

    /// Who is on call at `at` on every schedule (nobody: `shift` is null).
    pub async fn on_call_at(&self, at: Option<Timestamp>) -> Result<Vec<OnCall>> {
        let at = at.unwrap_or_else(|| self.clock.now());
        let org = self.org_snapshot().await?;
        let mut tx = self.store.read().await?;
        let mut on_call = Vec::new();
        for schedule in &org.schedules {
            on_call.push(OnCall {
                schedule: schedule.name.clone(),
                shift: shift_around(&mut tx, schedule, at).await?,
            });
        }
        Ok(on_call)
    }

    /// Someone takes a shift for a time range (responder). A later
    /// override wins over an earlier one where they overlap.
    pub async fn create_override(
        &self,
        caller: &Caller,
        schedule: &str,
        person: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        reason: &str,
    ) -> Result<StoredOverride> {
        caller.require(Role::Responder)?;
        // Checked as stored: to the millisecond.
        let to_millis =
            |at: Timestamp| Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at);
        let (starts_at, ends_at) = (to_millis(starts_at), to_millis(ends_at));
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, schedule)?;
        if org.person(person).is_none() {
            let suggestion =
                crate::config::closest(person, org.people.iter().map(|p| p.handle.clone()));
            let hint = suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::invalid(
                "unknown_person",
                "person",
                format!("there is no person `{person}`{hint}"),
            ));
        }
        if ends_at <= starts_at {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "an override must end after it starts",
            ));
        }
        if ends_at.duration_since(starts_at) < MIN_OVERRIDE {
            return Err(Error::invalid(
                "range_too_short",
                "ends_at",
                "an override must last at least a minute",
            ));
        }
        if ends_at.duration_since(starts_at) > MAX_RANGE {
            return Err(Error::invalid(
                "range_too_long",
                "ends_at",
                "an override may last at most 93 days",
            ));
        }
        let now = self.clock.now();
        if ends_at <= now {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "the override would end in the past",
            ));
        }
        let mut tx = self.store.write().await?;
        // Replicas on PostgreSQL would each find no overlap (or room under
        // the bound) and both insert: one override at a time per schedule.
        tx.lock(&format!("override:{}", schedule.name)).await?;
        let same_person = tx
            .overrides(Some(&schedule.name), starts_at, ends_at)
            .await?
            .into_iter()
            .find(|o| o.person == person);
        let live = tx
            .overrides(Some(&schedule.name), now, Timestamp::MAX)
            .await?
            .len();
        if live >= MAX_LIVE_OVERRIDES {
            return Err(Error::Conflict(format!(
                "{} has {live} overrides not yet over, the most it may have; remove some first",
                schedule.name
            )));
        }
        if let Some(existing) = same_person {
            return Err(Error::Conflict(format!(
                "{person} already has override {} from {} to {} on this schedule; remove it or pick another range",
                existing.id, existing.starts_at, existing.ends_at
            )));
        }
        let created = tx
            .insert_override(
                now,
                &schedule.name,
                person,
                starts_at,
                ends_at,
                reason.trim(),
                &caller.user.email,
            )
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "schedule_override.created",
                Subject::new("schedule_override", created.id),
            )
            .after(&created),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Takes an override out (responder), keeping what already happened:
    /// one not begun yet is removed; one under way ends now, so who was on
    /// call before stays as it was; one already over cannot be removed
    /// (the record of past shifts is not rewritten).
    pub async fn delete_override(&self, caller: &Caller, schedule: &str, id: i64) -> Result<()> {
        caller.require(Role::Responder)?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let Some(existing) = tx.live_override(schedule, id).await? else {
            return Err(Error::NotFound(format!(
                "override {id} of schedule {schedule}"
            )));
        };
        let subject = Subject::new("schedule_override", id);
        let event = if existing.ends_at <= now {
            return Err(Error::Conflict(format!(
                "override {id} ended at {}; past shifts stay as they were",
                existing.ends_at
            )));
        } else if existing.starts_at < now {
            if !tx.end_override(id, now).await? {
                return Err(Error::NotFound(format!(
                    "override {id} of schedule {schedule}"
                )));
            }
            let ended = StoredOverride {
                ends_at: now,
                ..existing.clone()
            };
            NewEvent::new(&caller.actor(), "schedule_override.ended", subject)
                .before(&existing)
                .after(&ended)
        } else {
            if !tx.delete_override(schedule, id, now).await? {
                return Err(Error::NotFound(format!(
                    "override {id} of schedule {schedule}"
                )));
            }
            NewEvent::new(&caller.actor(), "schedule_override.deleted", subject).before(&existing)
        };
        tx.append_event(now, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The secret path of a calendar feed (`schedule` or `person`), if
    /// it has one. Tokens are made when the config is applied, so this
    /// only reads.
    pub async fn feed_url(&self, kind: &str, name: &str) -> Result<Option<String>> {
        let token = self.store.read().await?.feed_token(kind, name).await?;
        let org = self.org_snapshot().await?;
        Ok(token.map(|token| feed_address(&org, &token)))
    }

    /// Gives a schedule's calendar feed a new secret URL (responder): the
    /// old one stops working at once, for when it was shared too widely.
    pub async fn rotate_schedule_feed(&self, caller: &Caller, name: &str) -> Result<String> {
        caller.require(Role::Responder)?;
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, name)?;
        self.replace_feed(
            caller,
            SCHEDULE_FEED,
            &schedule.name,
            Subject::new("schedule", &schedule.name),
        )
        .await
    }

    /// The secret path of a person's own calendar feed: for the person
    /// themselves (matched by email) or an admin.
    pub async fn person_feed_url(&self, caller: &Caller, handle: &str) -> Result<String> {
        let handle = self.own_or_admin(caller, handle).await?;
        self.feed_url(PERSON_FEED, &handle).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "a calendar feed of {handle} (feeds are made when the config is applied: apply it again)"
            ))
        })
    }

    /// Gives a person's own calendar feed a new secret URL: for the person
    /// themselves (matched by email) or an admin; the old one stops
    /// working at once.
    pub async fn rotate_person_feed(&self, caller: &Caller, handle: &str) -> Result<String> {
        let handle = self.own_or_admin(caller, handle).await?;
        self.replace_feed(
            caller,
            PERSON_FEED,
            &handle,
            Subject::new("person", &handle),
        )
        .await
    }

    /// The secret path of `person`'s own calendar feed if `caller` may see
    /// it (the person or an admin), for the person's page; `None` otherwise.
    pub async fn person_feed_url_if_allowed(
        &self,
        caller: &Caller,
        person: &Person,
    ) -> Result<Option<String>> {
        if caller.is_or_administers(person) {
            self.feed_url(PERSON_FEED, &person.handle).await
        } else {
            Ok(None)
        }
    }

    /// The handle of the person `handle` names, if `caller` is that person
    /// (matched by email) or an admin.
    async fn own_or_admin(&self, caller: &Caller, handle: &str) -> Result<String> {
        let org = self.org_snapshot().await?;
        let person = org
            .person(handle)
            .ok_or_else(|| Error::NotFound(format!("person {handle}")))?;
        if !caller.is_or_administers(person) {
            caller.require(Role::Admin)?;
        }
        Ok(person.handle.clone())
    }

    /// Replaces the token of the feed `kind`/`name`; returns its new path.
    async fn replace_feed(
        &self,
        caller: &Caller,
        kind: &str,
        name: &str,
        subject: Subject,
    ) -> Result<String> {
        let now = self.clock.now();
        let token = super::auth::random_secret();
        let mut tx = self.store.write().await?;
        tx.replace_feed_token(now, kind, name, &token).await?;
        // The token is a credential: the log says the feed changed, not to what.
        tx.append_event(
            now,
            NewEvent::new(&caller.actor(), "calendar_feed.rotated", subject)
                .after(serde_json::json!({ "kind": kind, "name": name })),
        )
        .await?;
        tx.commit().await?;
        let org = self.org_snapshot().await?;
        Ok(feed_address(&org, &token))
    }

    /// Shifts for a feed: computed from further back than the feed shows,
    /// so the shift under way at the feed's start keeps its true start;
    /// only those that end inside the shown window. Returns the shifts and
    /// where the computation began.
    async fn feed_shifts(
        &self,
        schedule: &Schedule,
        now: Timestamp,
    ) -> Result<(Vec<Shift>, Timestamp, Timestamp)> {
        let shown_from = now.checked_sub(FEED_PAST).unwrap_or(now);
        let from = shown_from.checked_sub(FEED_LOOKBACK).unwrap_or(shown_from);
        let to = now.saturating_add(FEED_AHEAD).unwrap_or(now);
        let (shifts, _) = self.shifts(schedule, from, to).await?;
        let shown = shifts.into_iter().filter(|s| s.end > shown_from).collect();
        Ok((shown, from, to))
    }

    /// The iCalendar text behind a feed token; `None` for unknown tokens.
    pub async fn calendar(&self, token: &str) -> Result<Option<String>> {
        // No token holds one; PostgreSQL would refuse to compare it.
        if token.contains('\0') {
            return Ok(None);
        }
        let Some((kind, name)) = self.store.read().await?.feed_by_token(token).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let org = self.org_snapshot().await?;
        match kind.as_str() {
            SCHEDULE_FEED => {
                let Some(schedule) = org.schedule(&name) else {
                    return Ok(None);
                };
                let (shifts, from, to) = self.feed_shifts(schedule, now).await?;
                let events: Vec<schedule::FeedEvent> = shifts
                    .into_iter()
                    .map(|shift| schedule::FeedEvent {
                        summary: format!("On call: {} ({})", schedule.name, shift.person),
                        scope: format!("schedule-{}", schedule.name),
                        shift,
                    })
                    .collect();
                Ok(Some(schedule::to_ical(
                    &schedule.name,
                    &events,
                    from,
                    to,
                    now,
                )))
            }
            PERSON_FEED => {
                let Some(person) = org.person(&name) else {
                    return Ok(None);
                };
                let mut events = Vec::new();
                let mut window = (now, now);
                for schedule in &org.schedules {
                    let (shifts, from, to) = self.feed_shifts(schedule, now).await?;
                    window = (from, to);
                    events.extend(
                        shifts
                            .into_iter()
                            .filter(|s| s.person == name)
                            .map(|shift| schedule::FeedEvent {
                                // The calendar is the person's own: the event
                                // names the schedule, not them.
                                summary: format!("On call: {}", schedule.name),
                                scope: format!("person-{name}-{}", schedule.name),
                                shift,
                            }),
                    );
                }
                events.sort_by_key(|e| e.shift.start);
                Ok(Some(schedule::to_ical(
                    &format!("{} on call", person.name),
                    &events,
                    window.0,
                    window.1,
                    now,
                )))
            }
            _ => Ok(None),
        }
    }
}

/// The shift covering `at`, unclipped by the window it was found in unless
/// a bound lies past the last reach.
async fn shift_around(
    tx: &mut crate::store::Tx,
    schedule: &Schedule,
    at: Timestamp,
) -> Result<Option<OnCallShift>> {
    for (attempt, reach) in SHIFT_REACH.iter().enumerate() {
        let from = at.checked_sub(*reach).unwrap_or(at);
        let to = at.saturating_add(*reach).unwrap_or(at);
        let (shifts, _) = shifts_in(tx, schedule, from, to).await?;
        let Some((shift, start, end)) = schedule::stretch_at(&shifts, at) else {
            return Ok(None);
        };
        let (start_known, end_known) = (start > from, end < to);
        if (start_known && end_known) || attempt + 1 == SHIFT_REACH.len() {
            return Ok(Some(OnCallShift {
                person: shift.person.clone(),
                start: start_known.then_some(start),
                end: end_known.then_some(end),
                layer: shift.layer,
                override_id: shift.override_id,
            }));
        }
    }
    Ok(None)
}

/// A schedule's final shifts over a range, with the overrides read in `tx`.
async fn shifts_in(
    tx: &mut crate::store::Tx,
    schedule: &Schedule,
    from: Timestamp,
    to: Timestamp,
) -> Result<(Vec<Shift>, Vec<StoredOverride>)> {
    let overrides = tx.overrides(Some(&schedule.name), from, to).await?;
    let plain: Vec<_> = overrides.iter().map(StoredOverride::to_override).collect();
    let shifts = schedule::final_shifts(&schedule.layers, &plain, from, to)
        .map_err(|e| Error::Internal(anyhow::anyhow!("schedule {}: {e}", schedule.name)))?;
    Ok((shifts, overrides))
}

/// Where a calendar app subscribes to the feed with `token`: a full URL
/// under `organisation.base_url` when it is set (calendar apps need one),
/// else the path on this server.
fn feed_address(org: &Org, token: &str) -> String {
    let path = format!("/calendar/{token}.ics");
    match &org.settings.base_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn durations_read_in_hours_and_minutes_and_a_short_gap_is_not_none() {
        use jiff::SignedDuration;
        assert_eq!(super::human_hours(SignedDuration::ZERO), "0 min");
        assert_eq!(
            super::human_hours(SignedDuration::from_secs(20)),
            "under a minute"
        );
        assert_eq!(
            super::human_hours(SignedDuration::from_mins(90)),
            "1 h 30 min"
        );
        assert_eq!(super::human_hours(SignedDuration::from_hours(3)), "3 h");
    }
    use super::feed_address;
    use crate::domain::org::Org;

    #[test]
    fn feed_addresses_are_full_urls_under_the_base_url() {
        let mut org = Org::default();
        assert_eq!(feed_address(&org, "t0k"), "/calendar/t0k.ics");
        org.settings.base_url = Some("https://siaga.example/".into());
        assert_eq!(
            feed_address(&org, "t0k"),
            "https://siaga.example/calendar/t0k.ics"
        );
    }
}
