//! The validator's BLS key file, `<home>/config/bls_key.json` (file-permission protected).
