"""Where the facts come from: cloud sources that report balances and clusters."""
