//! The Redis key layout (documented in the crate docs and `docs/scaling.md`): one place builds
//! every key, so the layout cannot drift between writers and readers.

/// Key names for one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The cooldown deadline of a deployment (string, ms since the Unix epoch).
    pub(crate) fn cool(&self, id: &str) -> String {
        format!("{}cool:{id}", self.prefix)
    }

    /// The shared failure window of a deployment (sorted set of failure times).
    pub(crate) fn fails(&self, id: &str) -> String {
        format!("{}fails:{id}", self.prefix)
    }

    /// Requests routed to a deployment in one minute.
    pub(crate) fn rpm(&self, id: &str, minute: u64) -> String {
        format!("{}rpm:{id}:{minute}", self.prefix)
    }

    /// Tokens a deployment's answers used in one minute.
    pub(crate) fn tpm(&self, id: &str, minute: u64) -> String {
        format!("{}tpm:{id}:{minute}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new("switchyard:");
        assert_eq!(k.cool("gpt-4o/0"), "switchyard:cool:gpt-4o/0");
        assert_eq!(k.fails("a"), "switchyard:fails:a");
        assert_eq!(k.rpm("a", 28_000_000), "switchyard:rpm:a:28000000");
        assert_eq!(k.tpm("a", 7), "switchyard:tpm:a:7");
    }
}
