"""The minds: message channels, networks, the PPO loss and the two trainers."""
