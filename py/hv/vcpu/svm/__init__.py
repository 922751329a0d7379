# AMD SVM back end (APM Vol. 2 chapter 15).
