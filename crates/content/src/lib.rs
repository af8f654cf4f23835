//! The plaintext that travels inside end-to-end encryption (`content.proto`): text,
//! attachments, reactions, receipts, edits, deletes, typing, group and call signalling,
//! and the padding that hides its length.
