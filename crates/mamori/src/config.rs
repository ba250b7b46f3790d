//! `mamori.toml`: every key has a default, so the file is optional.

use anyhow::{Context, Result, bail};
use mamori_ingest::decode::{DecoderKind, Encoding, SourceSettings};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub language: Option<String>,
    pub listen: Listen,
    pub tls: Tls,
    pub store: StoreCfg,
    pub limits: Limits,
    pub checkpoint: CheckpointCfg,
    pub detect: DetectCfg,
    pub defaults: SourceDefaults,
    #[serde(rename = "source")]
    pub sources: Vec<SourceCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Syslog over UDP; empty to turn off.
    pub syslog_udp: String,
    /// Syslog over TCP (LF or octet-counting framing).
    pub syslog_tcp: String,
    /// Syslog over TLS (RFC 5425).
    pub syslog_tls: String,
    /// HTTP API (ingest, search, metrics).
    pub http: String,
    /// Whether the HTTP API uses TLS.
    pub http_tls: bool,
    /// Whether `/metrics` answers without a token.
    pub metrics_public: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain; empty: a self-signed one is made in the data dir.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// Host names for the self-signed certificate.
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreCfg {
    pub segment_max_mb: u64,
    pub flush_interval_ms: u64,
    pub zstd_level: i32,
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_http_body_mb: usize,
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointCfg {
    /// `udp://host:port` or `tcp://host:port`; empty: not sent.
    pub syslog_target: String,
    pub interval_minutes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectCfg {
    /// Whether `serve` evaluates every stored event.
    pub enabled: bool,
    /// Whether the built-in hospital pack is loaded.
    pub builtin_rules: bool,
    /// Rule files or folders (for example a SigmaHQ checkout's rules/windows).
    pub rules: Vec<PathBuf>,
    /// IOC list files (plain text or CSV).
    pub ioc: Vec<PathBuf>,
    /// Repeats of one rule on one entity within this many minutes update one alert.
    pub dedup_window_minutes: u64,
    /// Rules below this level feed correlations but raise no alert.
    pub min_level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceDefaults {
    pub timezone: String,
    pub encoding: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCfg {
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub decoder: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub retention_days: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./mamori-data"),
            language: None,
            listen: Listen::default(),
            tls: Tls::default(),
            store: StoreCfg::default(),
            limits: Limits::default(),
            checkpoint: CheckpointCfg::default(),
            detect: DetectCfg::default(),
            defaults: SourceDefaults::default(),
            sources: Vec::new(),
        }
    }
}
impl Default for Listen {
    fn default() -> Self {
        Listen {
            syslog_udp: "0.0.0.0:5514".into(),
            syslog_tcp: "0.0.0.0:5514".into(),
            syslog_tls: "0.0.0.0:6514".into(),
            http: "0.0.0.0:8443".into(),
            http_tls: true,
            metrics_public: true,
        }
    }
}
impl Default for StoreCfg {
    fn default() -> Self {
        StoreCfg {
            segment_max_mb: 64,
            flush_interval_ms: 1000,
            zstd_level: 3,
            retention_days: 365,
        }
    }
}
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_http_body_mb: 32,
            max_connections: 1024,
        }
    }
}
impl Default for CheckpointCfg {
    fn default() -> Self {
        CheckpointCfg {
            syslog_target: String::new(),
            interval_minutes: 60,
        }
    }
}
impl Default for DetectCfg {
    fn default() -> Self {
        DetectCfg {
            enabled: true,
            builtin_rules: true,
            rules: Vec::new(),
            ioc: Vec::new(),
            dedup_window_minutes: 60,
            min_level: "low".into(),
        }
    }
}
impl Default for SourceDefaults {
    fn default() -> Self {
        SourceDefaults {
            timezone: "Asia/Tokyo".into(),
            encoding: "auto".into(),
        }
    }
}

/// The commented file that `mamori config init` writes.
pub const TEMPLATE: &str = include_str!("../mamori.example.toml");

impl Config {
    /// Reads `path` if given (it must exist), else `./mamori.toml` if present,
    /// else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("mamori.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let cfg: Config = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid mamori configuration (see `mamori config init` for a commented example)",
                path.display()
            )
        })?;
        cfg.validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.sources {
            if s.name.trim().is_empty() {
                bail!("a [[source]] has an empty name");
            }
            if !seen.insert(&s.name) {
                bail!("source {} is configured twice", s.name);
            }
            for a in &s.addresses {
                parse_cidr(a).with_context(|| format!("source {}", s.name))?;
            }
            self.settings_for(s)?;
        }
        if mamori_detect::level_rank(&self.detect.min_level) == 0 {
            bail!(
                "detect.min_level = {:?}: use informational, low, medium, high or critical",
                self.detect.min_level
            );
        }
        for (what, addr) in [
            ("listen.syslog_udp", &self.listen.syslog_udp),
            ("listen.syslog_tcp", &self.listen.syslog_tcp),
            ("listen.syslog_tls", &self.listen.syslog_tls),
            ("listen.http", &self.listen.http),
        ] {
            if !addr.is_empty() {
                addr.parse::<SocketAddr>().with_context(|| {
                    format!("{what} = {addr:?} is not an address such as 0.0.0.0:5514")
                })?;
            }
        }
        Ok(())
    }

    /// Decoding settings for the unconfigured peers.
    pub fn default_settings(&self) -> Result<SourceSettings> {
        Ok(SourceSettings {
            name: "default".into(),
            decoder: DecoderKind::Auto,
            encoding: parse_encoding(&self.defaults.encoding)?,
            timezone: parse_tz(&self.defaults.timezone)?,
            max_message_bytes: self.limits.max_message_bytes,
        })
    }

    /// Decoding settings of one configured source.
    pub fn settings_for(&self, s: &SourceCfg) -> Result<SourceSettings> {
        let base = self.default_settings()?;
        Ok(SourceSettings {
            name: s.name.clone(),
            decoder: match &s.decoder {
                Some(d) => d
                    .parse()
                    .map_err(|e| anyhow::anyhow!("source {}: decoder {d:?}: {e}", s.name))?,
                None => DecoderKind::Auto,
            },
            encoding: match &s.encoding {
                Some(e) => parse_encoding(e).with_context(|| format!("source {}", s.name))?,
                None => base.encoding,
            },
            timezone: match &s.timezone {
                Some(z) => parse_tz(z).with_context(|| format!("source {}", s.name))?,
                None => base.timezone,
            },
            max_message_bytes: self.limits.max_message_bytes,
        })
    }
}

fn parse_encoding(s: &str) -> Result<Encoding> {
    s.parse::<Encoding>()
        .map_err(|e| anyhow::anyhow!("encoding {s:?}: {e}"))
}

fn parse_tz(s: &str) -> Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(s).with_context(|| {
        format!("time zone {s:?} is unknown: use an IANA name such as Asia/Tokyo or UTC")
    })
}

/// Parses `192.0.2.1` or `192.0.2.0/24` into an address and prefix length.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = ip
        .trim()
        .parse()
        .with_context(|| format!("{s:?} is not an IP address or CIDR such as 192.0.2.0/24"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .with_context(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        None => max,
    };
    Ok((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_a_valid_config_with_defaults() {
        let cfg: Config = toml::from_str(TEMPLATE).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.listen.syslog_udp, "0.0.0.0:5514");
    }

    #[test]
    fn errors_name_the_bad_key() {
        let e = toml::from_str::<Config>("[listen]\nsyslog_udpp = \"x\"").unwrap_err();
        assert!(e.to_string().contains("syslog_udpp"), "{e}");
        let cfg: Config =
            toml::from_str("[[source]]\nname = \"fg\"\naddresses = [\"10.0.0.0/33\"]").unwrap();
        let e = format!("{:#}", cfg.validate().unwrap_err());
        assert!(e.contains("prefix length") && e.contains("fg"), "{e}");
    }
}
