//! The setup server: hello listener, connect-back TLS client and setup sequence.
