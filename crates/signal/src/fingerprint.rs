//! Safety numbers: displayable and scannable fingerprints of two identities, equal to libsignal's.
