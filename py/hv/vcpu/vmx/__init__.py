# Intel VMX back end (SDM Vol. 3C chapters 24-28).
