func.func @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  "func.return"(%1) : (tensor<2xf32>) -> ()
}
