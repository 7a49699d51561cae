//! The lab CA, provisioning certificates and the ME's own TLS identity, made with rcgen.
