"""The contract's vocabulary and the rules that are pure data: step conditions, brokers' pipelines."""
