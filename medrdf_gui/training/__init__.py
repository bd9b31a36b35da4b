"""Training of the shipped models (no Qt). Run as ``medrdf train cxr3-resnet18``; resumable."""
