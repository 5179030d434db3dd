"""The pipeline of DESIGN §2: the only place that strings the domain together."""
