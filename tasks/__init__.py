"""Built-in tasks whose quality a gold metric measures (the alignment lab): arithmetic and writing."""
