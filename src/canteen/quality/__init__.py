"""Quality of service: meal ratings (three faces) and claim checks on the meals behind a settlement."""
