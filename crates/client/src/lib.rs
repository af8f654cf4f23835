//! The client SDK: connect, enlist, publish keys, encrypt, send and receive.
