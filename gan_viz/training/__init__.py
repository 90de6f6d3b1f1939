"""Training: configs, the loop, run folders, distributed plumbing, sample quality."""
