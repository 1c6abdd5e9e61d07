//! Epochs: epoch 1 starts at the chain's initial height, and every epoch has `epoch_length`
//! blocks.
//!
//! The epoch length belongs to the app (`ChainInfo.epoch_length` in genesis), not to this
//! module's params, so there is one number and it cannot disagree with the app's. The app hands
//! it over once at InitChain with [`crate::set_epoch_config`]; the module keeps a copy under
//! `checkpointing/epoch_config` for its queries.

use crate::CheckpointingError;

/// Where epochs start and how long they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochConfig {
    initial_height: u64,
    epoch_length: u64,
}

impl EpochConfig {
    /// A configuration; the initial height and the length must be positive.
    pub fn new(initial_height: u64, epoch_length: u64) -> Result<Self, CheckpointingError> {
        if initial_height == 0 || epoch_length == 0 {
            return Err(CheckpointingError::InvalidEpochConfig(format!(
                "initial height and epoch length must be positive, found {initial_height} and {epoch_length}"
            )));
        }
        Ok(EpochConfig {
            initial_height,
            epoch_length,
        })
    }

    /// The chain's first height.
    pub fn initial_height(&self) -> u64 {
        self.initial_height
    }

    /// Blocks per epoch.
    pub fn epoch_length(&self) -> u64 {
        self.epoch_length
    }

    /// The epoch of a height (`None` below the initial height).
    pub fn epoch_of_height(&self, height: u64) -> Option<u64> {
        let offset = height.checked_sub(self.initial_height)?;
        (offset / self.epoch_length).checked_add(1)
    }

    /// The first height of an epoch (`None` for epoch 0 or past `u64`).
    pub fn first_height(&self, epoch: u64) -> Option<u64> {
        let before = epoch.checked_sub(1)?.checked_mul(self.epoch_length)?;
        self.initial_height.checked_add(before)
    }

    /// The last height of an epoch; its block hash is what the epoch's checkpoint signs.
    pub fn last_height(&self, epoch: u64) -> Option<u64> {
        self.first_height(epoch)?.checked_add(self.epoch_length - 1)
    }

    /// The epoch that ends at `height`, if `height` is the last block of one. ExtendVote signs
    /// at these heights.
    pub fn epoch_ending_at(&self, height: u64) -> Option<u64> {
        let e = self.epoch_of_height(height)?;
        (self.last_height(e)? == height).then_some(e)
    }

    /// The epoch whose checkpoint the block at `height` carries: the previous epoch when
    /// `height` is the first block of an epoch after the first.
    pub fn checkpoint_epoch_at(&self, height: u64) -> Option<u64> {
        let e = self.epoch_of_height(height)?;
        (e > 1 && self.first_height(e)? == height).then(|| e - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn epochs_start_at_the_initial_height() {
        let c = EpochConfig::new(1, 10).unwrap();
        assert_eq!(c.epoch_of_height(0), None);
        assert_eq!(c.epoch_of_height(1), Some(1));
        assert_eq!(c.epoch_of_height(10), Some(1));
        assert_eq!(c.epoch_of_height(11), Some(2));
        assert_eq!(c.first_height(2), Some(11));
        assert_eq!(c.last_height(2), Some(20));
        assert_eq!(c.first_height(0), None);
        assert_eq!(c.epoch_ending_at(10), Some(1));
        assert_eq!(c.epoch_ending_at(11), None);
        assert_eq!(c.checkpoint_epoch_at(11), Some(1));
        assert_eq!(c.checkpoint_epoch_at(1), None);
        assert_eq!(c.checkpoint_epoch_at(12), None);
        let c = EpochConfig::new(5, 3).unwrap();
        assert_eq!(c.epoch_ending_at(7), Some(1));
        assert_eq!(c.epoch_of_height(4), None);
        assert_eq!(c.epoch_of_height(8), Some(2));
        assert!(EpochConfig::new(0, 10).is_err());
        assert!(EpochConfig::new(1, 0).is_err());
        assert_eq!(
            EpochConfig::new(1, 1).unwrap().last_height(u64::MAX),
            Some(u64::MAX)
        );
    }

    proptest! {
        #[test]
        fn every_height_is_inside_its_epoch(initial in 1u64..1000, len in 1u64..500, h in 0u64..1_000_000) {
            let c = EpochConfig::new(initial, len).unwrap();
            match c.epoch_of_height(h) {
                None => prop_assert!(h < initial),
                Some(e) => {
                    prop_assert!(c.first_height(e).unwrap() <= h);
                    prop_assert!(h <= c.last_height(e).unwrap());
                    prop_assert_eq!(c.epoch_ending_at(h).is_some(), c.last_height(e) == Some(h));
                }
            }
        }
    }
}
