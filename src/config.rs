//! The organisation as code: parses the YAML config file and validates it
//! into a [`domain::org::Org`](crate::domain::org::Org). Pure: takes text,
//! returns the org or every problem found, each with line, column and field.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::domain::org::{
    ContactKind, ContactMethod, Org, OrgSettings, Person, Runbook, Service, ServiceKind, Team,
};

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigIssue {
    pub line: u64,
    pub column: u64,
    /// Path of the offending field, e.g. `teams[2].lead`; empty when the
    /// document itself is malformed.
    pub field: String,
    pub message: String,
    /// A near-miss name that exists, for "did you mean …?".
    pub suggestion: Option<String>,
}

/// Every problem found in one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: String,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in &self.issues {
            write!(f, "{}:{}:{}: ", self.file, issue.line, issue.column)?;
            if !issue.field.is_empty() {
                write!(f, "{}: ", issue.field)?;
            }
            write!(f, "{}", issue.message)?;
            if let Some(suggestion) = &issue.suggestion {
                write!(f, " (did you mean `{suggestion}`?)")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Parses and validates a config file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Org, ConfigErrors> {
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|error| {
        let location = error.location();
        ConfigErrors {
            file: file.to_string(),
            issues: vec![ConfigIssue {
                line: location.map_or(0, |l| l.line()),
                column: location.map_or(0, |l| l.column()),
                field: String::new(),
                message: first_line(&error.to_string()),
                suggestion: None,
            }],
        }
    })?;
    let mut checker = Checker::default();
    let org = checker.check(raw);
    if checker.issues.is_empty() {
        Ok(org)
    } else {
        checker.issues.sort_by_key(|i| (i.line, i.column));
        Err(ConfigErrors {
            file: file.to_string(),
            issues: checker.issues,
        })
    }
}

/// serde-saphyr renders a source snippet under the message; the first line
/// is the message itself, and the location is reported separately.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organisation: Spanned<RawOrganisation>,
    #[serde(default)]
    people: Vec<Spanned<RawPerson>>,
    #[serde(default)]
    teams: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    executives: Vec<Spanned<String>>,
    #[serde(default)]
    services: Vec<Spanned<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganisation {
    name: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    handle: Spanned<String>,
    name: Spanned<String>,
    email: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    contact_methods: Vec<Spanned<RawContactMethod>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContactMethod {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    address: Spanned<String>,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: Spanned<String>,
    display_name: Option<String>,
    description: Option<String>,
    lead: Spanned<String>,
    head: Spanned<String>,
    #[serde(default)]
    members: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    display_name: Option<String>,
    kind: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    tier: Option<Spanned<i64>>,
    description: Option<String>,
    provider: Option<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    runbook: Option<Spanned<RawRunbook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    url: Option<Spanned<String>>,
    markdown: Option<String>,
}

#[derive(Default)]
struct Checker {
    issues: Vec<ConfigIssue>,
}

impl Checker {
    fn report<T>(&mut self, at: &Spanned<T>, field: String, message: String) {
        self.report_with(at, field, message, None);
    }

    fn report_with<T>(
        &mut self,
        at: &Spanned<T>,
        field: String,
        message: String,
        suggestion: Option<String>,
    ) {
        self.issues.push(ConfigIssue {
            line: at.referenced.line(),
            column: at.referenced.column(),
            field,
            message,
            suggestion,
        });
    }

    fn slug(&mut self, value: &Spanned<String>, field: String, what: &str) {
        if !is_slug(&value.value) {
            self.report(
                value,
                field,
                format!(
                    "{what} `{}` must be lower-case letters, digits, `-` or `_`, starting with a letter or digit",
                    value.value
                ),
            );
        }
    }

    fn time_zone(&mut self, value: &Spanned<String>, field: String) {
        if jiff::tz::TimeZone::get(&value.value).is_err() {
            let suggestion = closest(
                &value.value,
                jiff::tz::db().available().map(|n| n.to_string()),
            );
            self.report_with(
                value,
                field,
                format!("unknown time zone `{}`", value.value),
                suggestion,
            );
        }
    }

    /// Reports a reference to a name that is not in `known`.
    fn reference(
        &mut self,
        value: &Spanned<String>,
        field: String,
        what: &str,
        known: &BTreeSet<String>,
    ) -> bool {
        if known.contains(&value.value) {
            return true;
        }
        let suggestion = closest(&value.value, known.iter().cloned());
        self.report_with(
            value,
            field,
            format!("unknown {what} `{}`", value.value),
            suggestion,
        );
        false
    }

    /// Reports names that appear twice in one list.
    fn unique<'a>(
        &mut self,
        names: impl Iterator<Item = (String, &'a Spanned<String>)>,
        what: &str,
    ) {
        let mut seen = HashSet::new();
        for (field, name) in names {
            if !seen.insert(name.value.to_lowercase()) {
                self.report(name, field, format!("duplicate {what} `{}`", name.value));
            }
        }
    }

    fn check(&mut self, raw: RawConfig) -> Org {
        let organisation = &raw.organisation.value;
        if organisation.name.value.trim().is_empty() {
            self.report(
                &organisation.name,
                "organisation.name".into(),
                "must not be empty".into(),
            );
        }
        let default_zone = match &organisation.time_zone {
            Some(zone) => {
                self.time_zone(zone, "organisation.time_zone".into());
                zone.value.clone()
            }
            None => "UTC".to_string(),
        };
        if let Some(url) = &organisation.base_url {
            self.http_url(url, "organisation.base_url".into());
        }

        let handles: BTreeSet<String> = raw
            .people
            .iter()
            .map(|p| p.value.handle.value.clone())
            .collect();
        let team_names: BTreeSet<String> = raw
            .teams
            .iter()
            .map(|t| t.value.name.value.clone())
            .collect();
        let service_names: BTreeSet<String> = raw
            .services
            .iter()
            .map(|s| s.value.name.value.clone())
            .collect();

        let people = raw
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| self.person(i, &p.value, &default_zone))
            .collect();
        self.unique(
            raw.people
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("people[{i}].handle"), &p.value.handle)),
            "person handle",
        );
        self.unique(
            raw.people
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("people[{i}].email"), &p.value.email)),
            "email",
        );

        let teams = raw
            .teams
            .iter()
            .enumerate()
            .map(|(i, t)| self.team(i, &t.value, &handles))
            .collect();
        self.unique(
            raw.teams
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("teams[{i}].name"), &t.value.name)),
            "team name",
        );

        for (i, executive) in raw.executives.iter().enumerate() {
            self.reference(executive, format!("executives[{i}]"), "person", &handles);
        }
        self.unique(
            raw.executives
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("executives[{i}]"), e)),
            "executive",
        );

        let services: Vec<Service> = raw
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| self.service(i, &s.value, &team_names, &service_names))
            .collect();
        self.unique(
            raw.services
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("services[{i}].name"), &s.value.name)),
            "service name",
        );
        self.dependency_cycles(&raw.services);

        Org {
            settings: OrgSettings {
                name: organisation.name.value.trim().to_string(),
                time_zone: default_zone,
                base_url: organisation.base_url.as_ref().map(|u| u.value.clone()),
                executives: raw.executives.iter().map(|e| e.value.clone()).collect(),
            },
            people,
            teams,
            services,
        }
    }

    fn http_url(&mut self, url: &Spanned<String>, field: String) {
        let text = url.value.as_str();
        let valid = (text.starts_with("https://") || text.starts_with("http://"))
            && text
                .split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !valid {
            self.report(url, field, format!("`{text}` is not an http(s) URL"));
        }
    }

    fn person(&mut self, i: usize, raw: &RawPerson, default_zone: &str) -> Person {
        let at = format!("people[{i}]");
        self.slug(&raw.handle, format!("{at}.handle"), "handle");
        if raw.name.value.trim().is_empty() {
            self.report(&raw.name, format!("{at}.name"), "must not be empty".into());
        }
        if !looks_like_email(&raw.email.value) {
            self.report(
                &raw.email,
                format!("{at}.email"),
                format!("`{}` is not an email address", raw.email.value),
            );
        }
        let time_zone = match &raw.time_zone {
            Some(zone) => {
                self.time_zone(zone, format!("{at}.time_zone"));
                zone.value.clone()
            }
            None => default_zone.to_string(),
        };
        let mut contact_methods = Vec::new();
        for (j, method) in raw.contact_methods.iter().enumerate() {
            let field = format!("{at}.contact_methods[{j}]");
            let method = &method.value;
            let Some(kind) = ContactKind::ALL
                .into_iter()
                .find(|k| k.as_str() == method.kind.value)
            else {
                let suggestion = closest(
                    &method.kind.value,
                    ContactKind::ALL.iter().map(|k| k.as_str().to_string()),
                );
                self.report_with(
                    &method.kind,
                    format!("{field}.type"),
                    format!("unknown contact method type `{}`", method.kind.value),
                    suggestion,
                );
                continue;
            };
            let address = &method.address;
            match kind {
                ContactKind::Email if !looks_like_email(&address.value) => {
                    self.report(
                        address,
                        format!("{field}.address"),
                        format!("`{}` is not an email address", address.value),
                    );
                }
                ContactKind::Sms | ContactKind::Phone if !looks_like_phone(&address.value) => {
                    self.report(
                        address,
                        format!("{field}.address"),
                        format!(
                            "`{}` is not a phone number in international form, e.g. +60123456789",
                            address.value
                        ),
                    );
                }
                ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams => {
                    self.http_url(address, format!("{field}.address"));
                }
                _ => {}
            }
            contact_methods.push(ContactMethod {
                kind,
                address: address.value.clone(),
                label: method.label.clone(),
            });
        }
        Person {
            id: 0,
            handle: raw.handle.value.clone(),
            name: raw.name.value.trim().to_string(),
            email: raw.email.value.trim().to_string(),
            time_zone,
            contact_methods,
        }
    }

    fn team(&mut self, i: usize, raw: &RawTeam, handles: &BTreeSet<String>) -> Team {
        let at = format!("teams[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "team name");
        self.reference(&raw.lead, format!("{at}.lead"), "person", handles);
        self.reference(&raw.head, format!("{at}.head"), "person", handles);
        let mut members: Vec<String> = Vec::new();
        for (j, member) in raw.members.iter().enumerate() {
            self.reference(member, format!("{at}.members[{j}]"), "person", handles);
            if members.contains(&member.value) {
                self.report(
                    member,
                    format!("{at}.members[{j}]"),
                    format!("`{}` is listed twice", member.value),
                );
            } else {
                members.push(member.value.clone());
            }
        }
        for leader in [&raw.lead.value, &raw.head.value] {
            if !members.contains(leader) {
                members.push(leader.clone());
            }
        }
        Team {
            id: 0,
            name: raw.name.value.clone(),
            display_name: raw
                .display_name
                .clone()
                .unwrap_or_else(|| title_case(&raw.name.value)),
            description: raw.description.clone(),
            lead: raw.lead.value.clone(),
            head: raw.head.value.clone(),
            members,
        }
    }

    fn service(
        &mut self,
        i: usize,
        raw: &RawService,
        teams: &BTreeSet<String>,
        services: &BTreeSet<String>,
    ) -> Service {
        let at = format!("services[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "service name");
        let kind = match &raw.kind {
            None => ServiceKind::Internal,
            Some(k) if k.value == "internal" => ServiceKind::Internal,
            Some(k) if k.value == "external" => ServiceKind::External,
            Some(k) => {
                let suggestion = closest(
                    &k.value,
                    ["internal".to_string(), "external".to_string()].into_iter(),
                );
                self.report_with(
                    k,
                    format!("{at}.kind"),
                    format!("unknown service kind `{}`", k.value),
                    suggestion,
                );
                ServiceKind::Internal
            }
        };
        match &raw.owner {
            Some(owner) => {
                self.reference(owner, format!("{at}.owner"), "team", teams);
            }
            None if kind == ServiceKind::Internal => {
                self.report(
                    &raw.name,
                    format!("{at}.owner"),
                    "an internal service needs an owner team".into(),
                );
            }
            None => {}
        }
        let tier = match &raw.tier {
            Some(tier) if (1..=4).contains(&tier.value) => Some(tier.value as u8),
            Some(tier) => {
                self.report(
                    tier,
                    format!("{at}.tier"),
                    format!("tier must be 1 (most critical) to 4, not {}", tier.value),
                );
                None
            }
            None if kind == ServiceKind::Internal => {
                self.report(
                    &raw.name,
                    format!("{at}.tier"),
                    "an internal service needs a tier from 1 (most critical) to 4".into(),
                );
                None
            }
            None => None,
        };
        if raw.provider.is_some() && kind == ServiceKind::Internal {
            self.report(
                &raw.name,
                format!("{at}.provider"),
                "only an external service has a provider; add `kind: external`".into(),
            );
        }
        let mut depends_on: Vec<String> = Vec::new();
        for (j, dependency) in raw.depends_on.iter().enumerate() {
            let field = format!("{at}.depends_on[{j}]");
            if dependency.value == raw.name.value {
                self.report(
                    dependency,
                    field,
                    "a service cannot depend on itself".into(),
                );
            } else if self.reference(dependency, field, "service", services)
                && !depends_on.contains(&dependency.value)
            {
                depends_on.push(dependency.value.clone());
            }
        }
        let runbook = raw.runbook.as_ref().map(|runbook| {
            if let Some(url) = &runbook.value.url {
                self.http_url(url, format!("{at}.runbook.url"));
            }
            if runbook.value.url.is_none() && runbook.value.markdown.is_none() {
                self.report(
                    runbook,
                    format!("{at}.runbook"),
                    "a runbook needs a `url`, `markdown`, or both".into(),
                );
            }
            Runbook {
                url: runbook.value.url.as_ref().map(|u| u.value.clone()),
                markdown: runbook.value.markdown.clone(),
            }
        });
        Service {
            id: 0,
            name: raw.name.value.clone(),
            display_name: raw
                .display_name
                .clone()
                .unwrap_or_else(|| title_case(&raw.name.value)),
            kind,
            owner: raw.owner.as_ref().map(|o| o.value.clone()),
            tier,
            description: raw.description.clone(),
            provider: raw.provider.clone(),
            depends_on,
            runbook,
        }
    }

    /// Reports each dependency cycle once, at the service where it is first
    /// entered, naming the whole loop.
    fn dependency_cycles(&mut self, services: &[Spanned<RawService>]) {
        let edges: BTreeMap<&str, Vec<&str>> = services
            .iter()
            .map(|s| {
                let deps = s
                    .value
                    .depends_on
                    .iter()
                    .map(|d| d.value.as_str())
                    .collect();
                (s.value.name.value.as_str(), deps)
            })
            .collect();
        let mut reported: BTreeSet<Vec<&str>> = BTreeSet::new();
        for (i, service) in services.iter().enumerate() {
            let start = service.value.name.value.as_str();
            if let Some(cycle) = find_cycle(start, &edges) {
                let mut key = cycle.clone();
                key.sort();
                if reported.insert(key) {
                    let path = cycle
                        .iter()
                        .chain(std::iter::once(&cycle[0]))
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" → ");
                    self.report(
                        &service.value.name,
                        format!("services[{i}].depends_on"),
                        format!("dependency cycle: {path}"),
                    );
                }
            }
        }
    }
}

/// A cycle through `start`, as the list of services on it, if there is one.
fn find_cycle<'a>(start: &'a str, edges: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    fn walk<'a>(
        node: &'a str,
        start: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        visited: &mut BTreeSet<&'a str>,
    ) -> bool {
        // Self-dependencies are reported on their own, not as cycles.
        for &next in edges
            .get(node)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|&&n| n != node)
        {
            if next == start {
                return true;
            }
            if visited.insert(next) {
                path.push(next);
                if walk(next, start, edges, path, visited) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut visited = BTreeSet::from([start]);
    walk(start, start, edges, &mut path, &mut visited).then_some(path)
}

fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.trim().split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !text.contains(char::is_whitespace)
}

fn looks_like_phone(text: &str) -> bool {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    digits.starts_with('+') && digits.len() >= 8 && digits[1..].chars().all(|c| c.is_ascii_digit())
}

fn title_case(slug: &str) -> String {
    slug.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The known name closest to a mistyped one, when it is close enough to be
/// the likely intent (a few edits, relative to its length).
pub fn closest(wanted: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(1);
    known
        .map(|name| {
            (
                strsim::levenshtein(&wanted_lower, &name.to_lowercase()),
                name,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r###"
organisation:
  name: Kedai
  time_zone: Asia/Kuala_Lumpur
people:
  - handle: aisyah
    name: Aisyah
    email: aisyah@kedai.example
    contact_methods:
      - type: sms
        address: "+60123456789"
  - handle: budi
    name: Budi
    email: budi@kedai.example
    time_zone: Asia/Jakarta
teams:
  - name: payments
    lead: aisyah
    head: budi
executives: [budi]
services:
  - name: checkout
    owner: payments
    tier: 1
    depends_on: [payment-partner]
    runbook:
      markdown: "## Steps"
  - name: payment-partner
    kind: external
    provider: NusaPay
"###;

    #[test]
    fn valid_config_becomes_an_org() {
        let org = parse("shop.yaml", VALID).unwrap();
        assert_eq!(org.settings.name, "Kedai");
        assert_eq!(org.person("aisyah").unwrap().time_zone, "Asia/Kuala_Lumpur");
        assert_eq!(org.person("budi").unwrap().time_zone, "Asia/Jakarta");
        let team = org.team("payments").unwrap();
        assert_eq!(team.members, ["aisyah", "budi"]);
        assert_eq!(team.display_name, "Payments");
        let partner = org.service("payment-partner").unwrap();
        assert_eq!(partner.kind, ServiceKind::External);
        assert_eq!(partner.display_name, "Payment Partner");
        assert_eq!(org.dependents("payment-partner")[0].name, "checkout");
    }

    #[test]
    fn near_miss_names_get_a_suggestion_with_line_and_field() {
        let text = VALID.replace("owner: payments", "owner: paymnts");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        let issue = &errors.issues[0];
        assert_eq!(issue.field, "services[0].owner");
        assert_eq!(issue.suggestion.as_deref(), Some("payments"));
        let line = text.lines().position(|l| l.contains("paymnts")).unwrap() as u64 + 1;
        assert_eq!(issue.line, line);
        assert!(
            errors
                .to_string()
                .starts_with(&format!("shop.yaml:{line}:")),
            "{errors}"
        );
        assert!(
            errors.to_string().contains("did you mean `payments`?"),
            "{errors}"
        );
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let text = VALID
            .replace("lead: aisyah", "lead: aisya")
            .replace("time_zone: Asia/Jakarta", "time_zone: Asia/Jakart")
            .replace("tier: 1", "tier: 7")
            .replace("executives: [budi]", "executives: [nobody]")
            .replace("address: \"+60123456789\"", "address: \"12\"");
        let errors = parse("shop.yaml", &text).unwrap_err();
        let fields: Vec<&str> = errors.issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "people[0].contact_methods[0].address",
                "people[1].time_zone",
                "teams[0].lead",
                "executives[0]",
                "services[0].tier"
            ],
            "{errors}"
        );
        assert_eq!(errors.issues[1].suggestion.as_deref(), Some("Asia/Jakarta"));
    }

    #[test]
    fn cycles_and_self_dependencies_are_refused() {
        let text = VALID.replace(
            "    kind: external\n    provider: NusaPay\n",
            "    owner: payments\n    tier: 2\n    depends_on: [checkout]\n",
        );
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        assert!(
            errors.issues[0]
                .message
                .contains("checkout → payment-partner → checkout"),
            "{errors}"
        );

        let text = VALID.replace("depends_on: [payment-partner]", "depends_on: [checkout]");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert!(errors.issues[0].message.contains("itself"), "{errors}");
    }

    #[test]
    fn malformed_yaml_and_unknown_keys_have_a_location() {
        let errors = parse("x.yaml", "organisation:\n  name: [unclosed\n").unwrap_err();
        assert!(errors.issues[0].line >= 2, "{errors}");
        let errors = parse("x.yaml", "organisation:\n  name: K\n  colour: red\n").unwrap_err();
        assert_eq!(errors.issues[0].line, 3, "{errors}");
        assert!(errors.issues[0].message.contains("colour"), "{errors}");
    }

    #[test]
    fn duplicates_are_refused() {
        let text = VALID.replace("handle: budi", "handle: aisyah");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert!(
            errors
                .issues
                .iter()
                .any(|i| i.field == "people[1].handle" && i.message.contains("duplicate")),
            "{errors}"
        );
    }

    const SHOP: &str = include_str!("../examples/shop.yaml");

    #[test]
    fn the_example_shop_is_valid() {
        let org = parse("shop.yaml", SHOP).unwrap();
        assert!(org.services.iter().any(|s| s.kind == ServiceKind::External));
        assert_eq!(org.settings.executives.len(), 3);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The config comes from outside; whatever it holds, parsing ends
        /// in an org or in located errors, never in a panic.
        #[test]
        fn mangled_configs_never_panic(
            cuts in proptest::collection::vec((0usize..20_000, 0usize..40, "[ -~\n\t:\\[\\]{}&*!|>'\"#-]{0,12}"), 1..6)
        ) {
            let mut text = SHOP.to_string();
            for (at, remove, insert) in cuts {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) { at -= 1; }
                let mut end = (at + remove).min(text.len());
                while !text.is_char_boundary(end) { end -= 1; }
                text.replace_range(at..end, &insert);
            }
            match parse("fuzz.yaml", &text) {
                Ok(org) => proptest::prop_assert!(!org.settings.name.is_empty()),
                Err(errors) => {
                    proptest::prop_assert!(!errors.issues.is_empty());
                    proptest::prop_assert!(errors.issues.iter().all(|i| !i.message.is_empty()));
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse("any.yaml", &text);
        }
    }

    #[test]
    fn closest_only_suggests_near_misses() {
        let known = || ["payments".to_string(), "catalog".to_string()].into_iter();
        assert_eq!(closest("paymnts", known()).as_deref(), Some("payments"));
        assert_eq!(closest("zzz", known()), None);
    }
}
