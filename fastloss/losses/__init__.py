"""Loss definitions by family; importing a family module registers its losses."""
