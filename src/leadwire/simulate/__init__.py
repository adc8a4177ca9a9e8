"""`leadwire simulate`: drive many leads from every source through the whole pipeline."""
