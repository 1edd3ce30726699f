//! Integration tests of `switchyard-mock`, in one binary (see STYLE.md): the conformance kit.

mod conformance;
