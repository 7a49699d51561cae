//! `graph`: draw a topology as Graphviz DOT, a Mermaid flowchart or SVG.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use vprolab::topology;

use super::{CliError, GraphArgs, GraphFormat};
use super::write_stdout;
use crate::exit;

pub(crate) fn draw(args: &GraphArgs) -> Result<u8, CliError> {
    let lab = topology::load(&args.file)?;

    match args.format {
        GraphFormat::Dot => write_stdout(&topology::to_dot(&lab)),
        GraphFormat::Mermaid => write_stdout(&topology::to_mermaid(&lab)),
        GraphFormat::Svg => {
            let svg = render_svg(&topology::to_dot(&lab))?;
            std::io::stdout().write_all(&svg).map_err(|error| CliError::Environment(format!("cannot write the SVG: {error}")))?;
        }
    }
    Ok(exit::OK)
}

/// Runs Graphviz's `dot -Tsvg` on the DOT text and returns the picture.
fn render_svg(dot: &str) -> Result<Vec<u8>, CliError> {
    let spawned = Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Err(CliError::Environment("--format svg needs Graphviz's dot, which is not in PATH: install the Debian package graphviz, or use --format dot or mermaid".to_owned()));
        }
        Err(error) => return Err(CliError::Environment(format!("cannot run Graphviz's dot: {error}"))),
    };

    // dot parses the whole graph before it lays it out and writes, so writing all of the
    // input first cannot block on a full output pipe.
    let written = child.stdin.take().expect("stdin is piped").write_all(dot.as_bytes());
    let output = child.wait_with_output().map_err(|error| CliError::Environment(format!("Graphviz's dot failed: {error}")))?;
    written.map_err(|error| CliError::Environment(format!("cannot pass the graph to Graphviz's dot: {error}")))?;

    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::Environment(format!("Graphviz's dot failed ({}): {}", output.status, message.trim())));
    }
    Ok(output.stdout)
}
