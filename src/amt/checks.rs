//! The checks an ME applies to the setup server's certificate chain during PKI setup.

use serde::Serialize;

/// Why the ME rejected the setup server's certificate chain.
// TODO: placeholder variants; the firmware rules module replaces this enum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CertRefusal {
    #[error("the setup server sent no client certificate")]
    EmptyChain,
}

impl CertRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyChain => "empty-chain",
        }
    }
}
