"""The microscope: pure functions over arrays of messages, meanings and activations."""
