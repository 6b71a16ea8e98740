//! Optimisers the harness's dfdx ones do not cover, with state owned by the project (so a
//! checkpoint resumes exactly): optimistic Adam ([`oadam`], EDGAN).

pub mod oadam;
