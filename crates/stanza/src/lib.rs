//! Portico's XMPP-based wire protocol, sans-IO: a streaming XML codec with hard limits,
//! typed stanzas and the stream negotiation state machine. Bytes in, events out.
