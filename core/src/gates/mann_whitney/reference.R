# Reference values for the Mann-Whitney judge: R's wilcox.test(x, y, conf.int = TRUE,
# exact = FALSE, correct = TRUE) on fixed inputs, ties included. Rerun with
#   Rscript core/src/gates/mann_whitney/reference.R > core/src/gates/mann_whitney/reference.txt
# (R is needed only to produce these numbers, never by the tests.)
cases <- list(
  shifted = list(x = c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30),
                 y = c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29), conf = 0.98),
  ties = list(x = c(1, 2, 2, 3, 3, 3, 4, 5, 5, 8),
              y = c(0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 6), conf = 0.98),
  latency = list(x = c(0.212, 0.251, 0.233, 0.298, 0.240, 0.262, 0.229, 0.281, 0.255, 0.247,
                       0.238, 0.301, 0.266, 0.244, 0.259, 0.272),
                 y = c(0.201, 0.219, 0.214, 0.232, 0.208, 0.226, 0.221, 0.211, 0.230, 0.217,
                       0.209, 0.224, 0.236, 0.215, 0.222, 0.218), conf = 0.98),
  equal = list(x = c(5, 6, 7, 8, 9), y = c(5, 6, 7, 8, 9), conf = 0.95),
  unbalanced = list(x = c(10.5, 11.2, 9.8, 12.1), y = c(9.1, 9.9, 10.2, 8.7, 9.5, 10.0, 9.3,
                                                        10.8, 9.0, 9.6, 9.4, 10.1), conf = 0.98),
  integers = list(x = c(3, 3, 3, 4, 4, 5, 5, 5, 5, 6), y = c(3, 3, 4, 4, 4, 4, 5, 5, 2, 2), conf = 0.9)
)
for (name in names(cases)) {
  k <- cases[[name]]
  r <- suppressWarnings(wilcox.test(k$x, k$y, conf.int = TRUE, conf.level = k$conf,
                                    exact = FALSE, correct = TRUE))
  # name | conf.level | x | y | W p.value conf.low conf.high estimate
  cat(name, "|", k$conf, "|", format(k$x, digits = 17), "|", format(k$y, digits = 17), "|",
      sprintf("%.17g", c(r$statistic, r$p.value, r$conf.int[1], r$conf.int[2], r$estimate)), "\n")
}
