# vCPUs: the arch-neutral API (api), the CPUID a guest sees (cpuid), and the
# two back ends beneath, mirrored module for module: svm/ (AMD) and vmx/ (Intel).
