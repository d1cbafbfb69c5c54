//! Identifier newtypes. Each can only be built through `parse`, so a value
//! of one of these types has already passed the rules below.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_ID_LEN;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_ID_LEN} characters")]
    TooLong,
    #[error("may contain only letters, digits, '.', '_', ':' and '-'")]
    BadCharacter,
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses `[A-Za-z0-9._:-]{1,128}`.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// An organization, as named by its credentials.
    OrgId
);
id_type!(
    /// An event's id: the producer's idempotency key, or a server ULID.
    EventId
);
id_type!(
    /// The id of whoever (or whatever) performed an action.
    ActorId
);
id_type!(
    /// The id of the resource an action concerns.
    ResourceId
);

impl EventId {
    /// A fresh server-assigned id for events sent without one.
    pub fn generate() -> Self {
        Self(format!("evt_{}", ulid::Ulid::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_id_is_rejected() {
        assert_eq!(EventId::parse(""), Err(IdError::Empty));
    }

    #[test]
    fn id_longer_than_128_is_rejected() {
        assert_eq!(EventId::parse("a".repeat(129)), Err(IdError::TooLong));
        assert!(EventId::parse("a".repeat(128)).is_ok());
    }

    #[test]
    fn id_with_space_slash_or_hash_is_rejected() {
        for bad in ["a b", "a/b", "ORG#x", "é", "a\u{0}"] {
            assert_eq!(OrgId::parse(bad), Err(IdError::BadCharacter), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = EventId::generate();
        let b = EventId::generate();
        assert_ne!(a, b);
        assert!(EventId::parse(a.as_str()).is_ok());
    }

    #[test]
    fn id_deserializes_only_when_valid() {
        assert!(serde_json::from_str::<ActorId>("\"usr_1\"").is_ok());
        assert!(serde_json::from_str::<ActorId>("\"usr 1\"").is_err());
    }

    proptest! {
        #[test]
        fn every_id_of_allowed_characters_parses(s in "[A-Za-z0-9._:-]{1,128}") {
            prop_assert_eq!(ResourceId::parse(s.clone()).map(String::from), Ok(s));
        }
    }
}
