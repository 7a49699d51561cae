//! Logging: stderr at the level `-v`/`-q` set, and with `--log-dir`, one file per node
//! service (`dc1-dns.log`, `pc90-me.log`, ...) at debug level.
//!
//! The lab runs each service inside a span named `service` with the fields `node` and
//! `service`. An event goes to the file of the innermost such span around it.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::CliError;

/// Level of the per-service files: every debug event of our own code, and the DNS and
/// TLS libraries' events at info and above.
const FILE_FILTER: &str = "debug,hickory_server=info,hickory_proto=warn,rustls=info,hyper=info,hyper_util=info";

/// Name of the span the lab opens around each node service.
pub const SERVICE_SPAN: &str = "service";

pub fn init(stderr_default: &str, log_dir: Option<&Path>) -> Result<(), CliError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(stderr_default));
    // Colour codes only help a terminal; in a file or a pipe they are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour).with_target(false).with_filter(filter);

    let files = match log_dir {
        Some(dir) => Some(ServiceFiles::create(dir)?.with_filter(EnvFilter::new(FILE_FILTER))),
        None => None,
    };
    tracing_subscriber::registry().with(stderr).with(files).init();
    Ok(())
}

/// Writes events to one file per node service.
struct ServiceFiles {
    dir: PathBuf,
    files: Mutex<HashMap<String, File>>,
}

/// The file name of a `service` span, kept in its extensions.
struct ServiceFile(String);

impl ServiceFiles {
    fn create(dir: &Path) -> Result<Self, CliError> {
        fs::create_dir_all(dir).map_err(|error| CliError::Input(format!("cannot create the log folder {}: {error}", dir.display())))?;
        Ok(Self { dir: dir.to_owned(), files: Mutex::new(HashMap::new()) })
    }

    fn write(&self, name: &str, line: &str) {
        let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !files.contains_key(name) {
            let path = self.dir.join(format!("{name}.log"));
            match File::options().create(true).append(true).open(&path) {
                Ok(file) => {
                    files.insert(name.to_owned(), file);
                }
                Err(error) => {
                    super::write_stderr(&format!("vprolab: cannot open log file {}: {error}\n", path.display()));
                    return;
                }
            }
        }
        if let Some(file) = files.get_mut(name) {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

impl<S> Layer<S> for ServiceFiles
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        if attributes.metadata().name() != SERVICE_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        let (Some(node), Some(service)) = (fields.get("node"), fields.get("service")) else { return };

        let name = format!("{node}-{}", service.replace(' ', "-"));
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(ServiceFile(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let Some(scope) = context.event_scope(event) else { return };
        let Some(name) = scope.from_root().filter_map(|span| span.extensions().get::<ServiceFile>().map(|file| file.0.clone())).last() else { return };

        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = time::OffsetDateTime::now_utc();
        let stamp = time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let line = format!("{stamp} {:>5} {}\n", event.metadata().level(), fields.line());
        self.write(&name, &line);
    }
}

/// An event's or span's fields: the message first, then `key=value` pairs.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(name, _)| *name == key).map(|(_, value)| value.as_str())
    }

    fn line(&self) -> String {
        let mut line = self.message.clone();
        for (key, value) in &self.pairs {
            let _ = write!(line, " {key}={value}");
        }
        line
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.pairs.push((field.name(), value.to_owned()));
        }
    }
}
