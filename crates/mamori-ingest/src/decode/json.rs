//! JSON events: the evtx crate's record shape, Winlogbeat / Elastic Agent,
//! NXLog (including Sysmon over JSON), and any other JSON object.

use super::fortigate::local_time;
use super::tree::{Json as J, Object as Map};
use mamori_event::{Event, Fields, LogSource, Text, Value};

/// Decodes one JSON object; false if `text` is not a JSON object.
pub fn decode(text: &str, ev: &mut Event, tz: &jiff::tz::TimeZone) -> bool {
    let Ok(J::Object(obj)) = super::tree::parse(text) else {
        return false;
    };
    decode_object(&obj, ev, tz);
    true
}

/// Decodes an object already parsed by `serde_json` (an EVTX record).
pub fn decode_value(
    obj: &serde_json::Map<String, serde_json::Value>,
    ev: &mut Event,
    tz: &jiff::tz::TimeZone,
) {
    decode_object(&Map::of(obj), ev, tz);
}

fn decode_object(obj: &Map<'_>, ev: &mut Event, tz: &jiff::tz::TimeZone) {
    // Roughly a field per name (and a few more, named the Sigma way): room
    // made once instead of the list growing four or five times.
    ev.fields.reserve(obj.len() + 8);
    if let Some(J::Object(e)) = obj.get("Event")
        && e.contains_key("System")
    {
        evtx(e, ev);
    } else if let Some(J::Object(w)) = obj.get("winlog") {
        winlogbeat(obj, w, ev);
    } else if obj.contains_key("EventID")
        && (obj.contains_key("Channel") || obj.contains_key("SourceName"))
    {
        nxlog(obj, ev, tz);
    } else {
        generic(obj, ev);
    }
}

/// A field value: objects are kept as their JSON text.
fn value(v: &J) -> Value {
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::Str(s) => Value::Str(Text::from(s.as_ref())),
        J::Array(a) => Value::List(a.iter().map(value).collect()),
        J::Object(_) => Value::Str(Text::from(v.to_string())),
    }
}

fn int(v: &J) -> Option<i64> {
    match v {
        J::Number(n) => n.as_i64(),
        J::Str(s) => s.trim().parse().ok(),
        J::Object(o) => o.get("#text").and_then(int),
        _ => None,
    }
}

fn text(v: &J) -> Option<Text> {
    match v {
        J::Str(s) => Some(Text::from(s.as_ref())),
        J::Number(n) => Some(Text::from(n.to_string())),
        J::Object(o) => o.get("#text").and_then(text),
        _ => None,
    }
}

fn time_of(v: Option<&J>) -> Option<i64> {
    v.and_then(J::as_str).and_then(mamori_event::parse_rfc3339)
}

/// Sigma service (and category) for a Windows channel and event id.
fn windows_logsource(channel: &str, event_id: Option<i64>) -> LogSource {
    let service = match channel {
        "Security" => Some("security"),
        "System" => Some("system"),
        "Application" => Some("application"),
        "Microsoft-Windows-Sysmon/Operational" => Some("sysmon"),
        "Windows PowerShell" => Some("powershell-classic"),
        "Microsoft-Windows-PowerShell/Operational" => Some("powershell"),
        "Microsoft-Windows-Windows Defender/Operational" => Some("windefend"),
        "Microsoft-Windows-TaskScheduler/Operational" => Some("taskscheduler"),
        "Microsoft-Windows-WMI-Activity/Operational" => Some("wmi"),
        "Microsoft-Windows-Bits-Client/Operational" => Some("bits-client"),
        "Microsoft-Windows-DNS-Client/Operational" => Some("dns-client"),
        "Microsoft-Windows-SMBClient/Security" => Some("smbclient-security"),
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational" => {
            Some("terminalservices-localsessionmanager")
        }
        "Microsoft-Windows-CodeIntegrity/Operational" => Some("codeintegrity-operational"),
        "Microsoft-Windows-AppLocker/EXE and DLL" => Some("applocker"),
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall" => Some("firewall-as"),
        "Microsoft-Windows-NTLM/Operational" => Some("ntlm"),
        _ => None,
    };
    let category = service
        .zip(event_id)
        .and_then(|(s, id)| mamori_event::windows_category(s, id));
    LogSource::new(Some("windows"), service, category)
}

/// Flattens EventData / UserData into Windows field names.
fn event_data(f: &mut Fields, data: &J, prefix: &str) {
    match data {
        J::Object(o) => {
            for (k, v) in o.iter() {
                if k == "#attributes" || k == "xmlns" {
                    continue;
                }
                if k == "Data" {
                    // Unnamed Data elements.
                    match v {
                        J::Array(a) => f.push(
                            "Data",
                            Value::List(
                                a.iter()
                                    .map(|x| text(x).map(Value::from).unwrap_or(Value::Null))
                                    .collect(),
                            ),
                        ),
                        J::Object(inner) if inner.contains_key("#text") => {
                            if let Some(t) = inner.get("#text") {
                                f.push("Data", value(t));
                            }
                        }
                        other => f.push("Data", value(other)),
                    }
                    continue;
                }
                match v {
                    J::Object(inner) if !inner.contains_key("#text") => event_data(f, v, k),
                    J::Object(inner) => {
                        if let Some(t) = inner.get("#text") {
                            f.push(k, value(t));
                        }
                    }
                    other => f.push(k, value(other)),
                }
            }
        }
        J::Null => {}
        other => f.push(
            if prefix.is_empty() { "Data" } else { prefix },
            value(other),
        ),
    }
}

/// The evtx crate's `Event` object.
fn evtx(e: &Map<'_>, ev: &mut Event) {
    let sys = e.get("System").and_then(J::as_object);
    let f = &mut ev.fields;
    let mut channel = Text::default();
    let mut eid = None;
    if let Some(s) = sys {
        eid = s.get("EventID").and_then(int);
        if let Some(id) = eid {
            f.push("EventID", id);
        }
        if let Some(c) = s.get("Channel").and_then(text) {
            channel = c.clone();
            f.push("Channel", c);
        }
        if let Some(c) = s.get("Computer").and_then(text) {
            ev.host = c.clone();
            f.push("Computer", c);
        }
        if let Some(J::Object(p)) = s.get("Provider")
            && let Some(J::Object(a)) = p.get("#attributes")
        {
            if let Some(n) = a.get("Name").and_then(text) {
                f.push("Provider_Name", n);
            }
            if let Some(g) = a.get("Guid").and_then(text) {
                f.push("Provider_Guid", g);
            }
        }
        for k in ["Level", "Task", "Opcode", "Version"] {
            if let Some(v) = s.get(k).and_then(int) {
                f.push(k, v);
            }
        }
        if let Some(k) = s.get("Keywords").and_then(text) {
            f.push("Keywords", k);
        }
        if let Some(r) = s.get("EventRecordID").and_then(int) {
            f.push("EventRecordID", r);
        }
        if let Some(J::Object(x)) = s.get("Execution")
            && let Some(J::Object(a)) = x.get("#attributes")
        {
            if let Some(p) = a.get("ProcessID").and_then(int) {
                f.push("ProcessID", p);
            }
            if let Some(t) = a.get("ThreadID").and_then(int) {
                f.push("ThreadID", t);
            }
        }
        if let Some(J::Object(x)) = s.get("Security")
            && let Some(J::Object(a)) = x.get("#attributes")
            && let Some(u) = a.get("UserID").and_then(text)
        {
            f.push("UserID", u);
        }
        if let Some(J::Object(t)) = s.get("TimeCreated")
            && let Some(J::Object(a)) = t.get("#attributes")
            && let Some(st) = a.get("SystemTime").and_then(J::as_str)
        {
            f.push("TimeCreated", st);
            if let Some(ns) = mamori_event::parse_rfc3339(st) {
                ev.time_ns = ns;
            }
        }
    }
    if let Some(d) = e.get("EventData") {
        event_data(f, d, "");
    }
    if let Some(d) = e.get("UserData") {
        event_data(f, d, "");
    }
    ev.logsource = windows_logsource(&channel, eid);
    ev.decoder = "evtx".into();
}

fn winlogbeat(obj: &Map<'_>, w: &Map<'_>, ev: &mut Event) {
    let f = &mut ev.fields;
    let eid = w.get("event_id").and_then(int);
    if let Some(id) = eid {
        f.push("EventID", id);
    }
    let channel = w.get("channel").and_then(text).unwrap_or_default();
    if !channel.is_empty() {
        f.push("Channel", channel.clone());
    }
    if let Some(c) = w.get("computer_name").and_then(text) {
        ev.host = c.clone();
        f.push("Computer", c);
    }
    if let Some(p) = w.get("provider_name").and_then(text) {
        f.push("Provider_Name", p);
    }
    if let Some(r) = w.get("record_id").and_then(int) {
        f.push("EventRecordID", r);
    }
    if let Some(J::Object(p)) = w.get("process")
        && let Some(pid) = p.get("pid").and_then(int)
    {
        f.push("ProcessID", pid);
    }
    if let Some(d) = w.get("event_data") {
        event_data(f, d, "");
    }
    if let Some(d) = w.get("user_data") {
        event_data(f, d, "");
    }
    if let Some(m) = obj.get("message").and_then(text) {
        f.push("message", m);
    }
    if let Some(t) = time_of(obj.get("@timestamp")) {
        ev.time_ns = t;
    }
    ev.logsource = windows_logsource(&channel, eid);
    ev.decoder = "winlogbeat".into();
}

const NXLOG_META: &[&str] = &[
    "EventTime",
    "EventReceivedTime",
    "Hostname",
    "EventID",
    "Channel",
    "SourceName",
    "RecordNumber",
    "SourceModuleName",
    "SourceModuleType",
    "Severity",
    "SeverityValue",
    "EventType",
    "ProviderGuid",
    "Keywords",
    "Task",
    "OpcodeValue",
    "Opcode",
    "Version",
    "ProcessID",
    "ThreadID",
    "Message",
    "Category",
    "Domain",
    "AccountName",
    "UserID",
    "AccountType",
];

fn nxlog(obj: &Map<'_>, ev: &mut Event, tz: &jiff::tz::TimeZone) {
    let f = &mut ev.fields;
    let eid = obj.get("EventID").and_then(int);
    if let Some(id) = eid {
        f.push("EventID", id);
    }
    let channel = obj.get("Channel").and_then(text).unwrap_or_default();
    if !channel.is_empty() {
        f.push("Channel", channel.clone());
    }
    if let Some(h) = obj.get("Hostname").and_then(text) {
        ev.host = h.clone();
        f.push("Computer", h);
    }
    if let Some(p) = obj.get("SourceName").and_then(text) {
        f.push("Provider_Name", p);
    }
    if let Some(r) = obj.get("RecordNumber").and_then(int) {
        f.push("EventRecordID", r);
    }
    for k in ["ProcessID", "ThreadID", "Task", "Version"] {
        if let Some(v) = obj.get(k).and_then(int) {
            f.push(k, v);
        }
    }
    if let Some(k) = obj.get("Keywords").and_then(text) {
        f.push("Keywords", k);
    }
    if let Some(m) = obj.get("Message").and_then(text) {
        f.push("message", m);
    }
    for (k, v) in obj.iter() {
        if !NXLOG_META.contains(&k) {
            match v {
                J::Object(_) => event_data(f, v, k),
                other => f.push(k, value(other)),
            }
        }
    }
    if let Some(t) = obj.get("EventTime").and_then(J::as_str) {
        // NXLog's EventTime has no zone: the source's zone applies.
        if let Some(ns) =
            mamori_event::parse_rfc3339(t).or_else(|| local_time(&t.replacen(' ', "T", 1), tz))
        {
            ev.time_ns = ns;
        }
    }
    ev.logsource = windows_logsource(&channel, eid);
    ev.decoder = "nxlog".into();
}

fn flatten(prefix: &str, v: &J, f: &mut Fields, depth: u32) {
    match v {
        J::Object(o) if depth < 8 => flatten_object(prefix, o, f, depth),
        other => f.push(prefix, value(other)),
    }
}

fn flatten_object(prefix: &str, o: &Map<'_>, f: &mut Fields, depth: u32) {
    for (k, v) in o.iter() {
        if prefix.is_empty() {
            flatten(k, v, f, depth + 1);
        } else {
            flatten(&format!("{prefix}.{k}"), v, f, depth + 1);
        }
    }
}

fn generic(obj: &Map<'_>, ev: &mut Event) {
    flatten_object("", obj, &mut ev.fields, 0);
    for k in ["@timestamp", "timestamp", "time", "event.created"] {
        if let Some(t) = ev.fields.get_str(k).and_then(mamori_event::parse_rfc3339) {
            ev.time_ns = t;
            break;
        }
    }
    for k in ["host.name", "hostname", "host", "computer_name"] {
        if let Some(h) = ev.fields.get_str(k) {
            ev.host = h.into();
            break;
        }
    }
    ev.decoder = "json".into();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()
    }

    #[test]
    fn winlogbeat_security_event() {
        let mut ev = Event::new(Vec::new());
        assert!(decode(
            r#"{"@timestamp":"2026-11-24T01:00:00Z","winlog":{"channel":"Security","event_id":4625,"computer_name":"EMR-SV01","event_data":{"TargetUserName":"yamada","LogonType":"10"}}}"#,
            &mut ev,
            &tz()
        ));
        assert_eq!(ev.fields.get("EventID"), Some(&Value::Int(4625)));
        assert_eq!(ev.fields.get_str("TargetUserName"), Some("yamada"));
        assert_eq!(ev.host, "EMR-SV01");
        assert_eq!(ev.logsource.service.as_deref(), Some("security"));
        assert_eq!(ev.decoder, "winlogbeat");
    }

    #[test]
    fn sysmon_event_ids_give_the_sigma_categories() {
        let sysmon = "Microsoft-Windows-Sysmon/Operational";
        let category = |id| windows_logsource(sysmon, Some(id)).category;
        for (id, want) in [
            (1, "process_creation"),
            (2, "file_change"),
            (4, "sysmon_status"),
            (9, "raw_access_thread"),
            (12, "registry_event"),
            (14, "registry_event"),
            (16, "sysmon_status"),
            (20, "wmi_event"),
            (25, "process_tampering"),
            (26, "file_delete"),
            (29, "file_executable_detected"),
            (255, "sysmon_error"),
        ] {
            assert_eq!(category(id).as_deref(), Some(want), "Sysmon event {id}");
        }
        assert_eq!(category(99), None);
        assert_eq!(windows_logsource("Security", Some(20)).category, None);
    }

    #[test]
    fn nxlog_sysmon_with_local_time() {
        let mut ev = Event::new(Vec::new());
        assert!(decode(
            r#"{"EventTime":"2026-11-24 10:00:00","Hostname":"PC1","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami"}"#,
            &mut ev,
            &tz()
        ));
        assert_eq!(
            ev.fields.get_str("Image"),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(ev.logsource.category.as_deref(), Some("process_creation"));
        assert_eq!(
            ev.time_ns,
            mamori_event::parse_rfc3339("2026-11-24T01:00:00Z").unwrap()
        );
    }

    #[test]
    fn generic_json_is_flattened() {
        let mut ev = Event::new(Vec::new());
        assert!(decode(
            r#"{"source":{"ip":"10.0.0.1"},"host":{"name":"nas01"},"n":3}"#,
            &mut ev,
            &tz()
        ));
        assert_eq!(ev.fields.get_str("source.ip"), Some("10.0.0.1"));
        assert_eq!(ev.host, "nas01");
        assert!(!decode("[1,2]", &mut ev, &tz()));
    }
}
