"""What the SOC's own consumers get: which events they asked for, each as a line to read or an ECS document."""
