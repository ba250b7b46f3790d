//! rsigma's view of a mamori event, read in place.

use mamori_event::{Event, Value};
use rsigma_eval::event::{Event as SigmaEventTrait, EventValue};
use std::borrow::Cow;

/// A borrowed mamori event as rsigma sees it: field lookups go straight to
/// the event's fields (exact name first, then ignoring case, since Sigma
/// authors and log sources disagree on case), string searches walk its
/// string values.
#[derive(Clone, Copy)]
pub struct SigmaEvent<'a>(pub &'a Event);

fn to_value(v: &Value) -> EventValue<'_> {
    match v {
        Value::Null => EventValue::Null,
        Value::Bool(b) => EventValue::Bool(*b),
        Value::Int(i) => EventValue::Int(*i),
        Value::Float(f) => EventValue::Float(*f),
        Value::Str(s) => EventValue::Str(Cow::Borrowed(s)),
        Value::List(vs) => EventValue::Array(vs.iter().map(to_value).collect()),
    }
}

fn same_name(event_name: &str, sigma: &str) -> bool {
    // Quick answers for most names: only spaces make the event's name
    // longer than Sigma's.
    match event_name.len().cmp(&sigma.len()) {
        std::cmp::Ordering::Less => return false,
        std::cmp::Ordering::Equal => return event_name.eq_ignore_ascii_case(sigma),
        std::cmp::Ordering::Greater => {}
    }
    let mut a = event_name.chars().filter(|c| *c != ' ');
    let mut b = sigma.chars();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => {}
            _ => return false,
        }
    }
}

/// Sigma field names (taxonomy of SigmaHQ's rules) → the names mamori's
/// decoders use: Security 4688 process creation read as Sysmon's, and the
/// firewall / proxy / web names of device logs read as ECS.
pub(crate) fn alias(sigma: &str) -> Option<&'static str> {
    Some(match sigma {
        "Image" => "NewProcessName",
        "ParentImage" => "ParentProcessName",
        "src_ip" | "c-ip" | "SourceIp" => "source.ip",
        "dst_ip" | "DestinationIp" => "destination.ip",
        "src_port" | "SourcePort" => "source.port",
        "dst_port" | "DestinationPort" => "destination.port",
        "cs-host" | "r-dns" => "url.domain",
        "c-uri" | "cs-uri" => "url.original",
        "cs-method" => "http.request.method",
        "sc-status" => "http.response.status_code",
        "c-useragent" => "user_agent.original",
        "cs-username" => "user.name",
        "action" => "event.action",
        _ => return None,
    })
}

fn visit_strings<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str) -> bool) -> bool {
    match v {
        Value::Str(s) => f(s),
        Value::List(vs) => vs.iter().any(|v| visit_strings(v, f)),
        _ => false,
    }
}

impl SigmaEventTrait for SigmaEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let ev = self.0;
        if let Some(v) = ev.fields.get(path) {
            return Some(to_value(v));
        }
        // Ignoring case, and the spaces of Defender's names ("Threat Name"
        // is ThreatName in Sigma rules).
        if let Some((_, v)) = ev.fields.iter().find(|(name, _)| same_name(name, path)) {
            return Some(to_value(v));
        }
        // Sigma's names for fields mamori keeps under another name.
        if let Some(alias) = alias(path)
            && let Some(v) = ev.fields.get(alias)
        {
            return Some(to_value(v));
        }
        // The event's own header, under the names Sigma rules use.
        let header = match path {
            "Computer" | "Hostname" | "host.name" if !ev.host.is_empty() => &ev.host,
            _ => return None,
        };
        Some(EventValue::Str(Cow::Borrowed(header)))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.0
            .fields
            .iter()
            .any(|(_, v)| visit_strings(v, &mut |s| pred(s)))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        for (_, v) in self.0.fields.iter() {
            visit_strings(v, &mut |s| {
                out.push(Cow::Borrowed(s));
                false
            });
        }
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for (_, v) in self.0.fields.iter() {
            visit_strings(v, &mut |s| {
                visit(s);
                false
            });
        }
    }

    fn to_json(&self) -> serde_json::Value {
        self.0.fields.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_in_place_and_case_insensitively() {
        let mut ev = Event::new(Vec::new());
        ev.host = "EMR-SV01".into();
        ev.fields.push("EventID", 4624i64);
        ev.fields.push("TargetUserName", "yamada");
        let s = SigmaEvent(&ev);
        assert!(matches!(
            s.get_field("EventID"),
            Some(EventValue::Int(4624))
        ));
        assert!(matches!(s.get_field("targetusername"), Some(EventValue::Str(v)) if v == "yamada"));
        assert!(matches!(s.get_field("Computer"), Some(EventValue::Str(v)) if v == "EMR-SV01"));
        assert!(s.get_field("Missing").is_none());
        let mut def = Event::new(Vec::new());
        def.fields.push("Threat Name", "Virus:DOS/EICAR_Test_File");
        assert!(SigmaEvent(&def).get_field("ThreatName").is_some());
        let mut fw = Event::new(Vec::new());
        fw.fields.push("destination.port", 3389i64);
        assert!(matches!(
            SigmaEvent(&fw).get_field("dst_port"),
            Some(EventValue::Int(3389))
        ));
        assert!(s.any_string_value(&|v| v == "yamada"));
        assert_eq!(s.all_string_values().len(), 1);
    }
}
